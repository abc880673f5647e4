package dns

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Query types counted by name; every other type is counted as "other".
var metricQtypes = [...]uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeMX, dns.TypeNS,
	dns.TypeSOA, dns.TypeTXT, dns.TypeSRV, dns.TypeANY}

const (
	numQtypes = len(metricQtypes) + 1 // the last slot is "other"
	numRcodes = 24                    // rcodes 0..23; larger ones count as 23
	// noZone labels queries no zone of ours answered (REFUSED, FORMERR...).
	noZone = ""
)

// LatencyBuckets are the upper bounds, in seconds, of the query handling
// latency histogram.
var LatencyBuckets = []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3}

// zoneCounters counts one zone's queries by qtype and rcode.
type zoneCounters [numQtypes][numRcodes]atomic.Uint64

// AnswerKey labels balancer decisions: the service, the best region
// chosen ("" when none) and the strategy.
type AnswerKey struct {
	Service, Region, Strategy string
}

// Metrics counts what the query path does with plain atomics, so that the
// query path takes no lock; a collector reads them at scrape time. Zone,
// service and region names come from the zone files, never from queries,
// so the label sets stay bounded. The zero value is ready for use.
type Metrics struct {
	zones     sync.Map // zone origin -> *zoneCounters
	answers   sync.Map // AnswerKey -> *atomic.Uint64
	ECS       atomic.Uint64
	Truncated atomic.Uint64

	latency     [13]atomic.Uint64 // per bucket of LatencyBuckets, last: +Inf
	latencySum  atomic.Uint64     // nanoseconds
	latencyRecs atomic.Uint64
}

// Record counts one handled query: its result and how long it took.
func (m *Metrics) Record(res *Result, took time.Duration) {
	if res.Msg != nil {
		var qtype uint16
		if len(res.Msg.Question) == 1 {
			qtype = res.Msg.Question[0].Qtype
		}
		m.queryCounter(res.Zone, qtype, res.Msg.Rcode).Add(1)
		if res.Msg.Truncated {
			m.Truncated.Add(1)
		}
	}
	if res.ECS {
		m.ECS.Add(1)
	}
	for i := range res.Decisions {
		m.answerCounter(&res.Decisions[i]).Add(1)
	}
	m.observe(took)
}

// queryCounter returns the counter of queries to zone of qtype answered
// with rcode. The answer cache keeps it, so that a cached answer counts
// itself with one atomic add.
func (m *Metrics) queryCounter(zone string, qtype uint16, rcode int) *atomic.Uint64 {
	qt := numQtypes - 1
	for i, k := range metricQtypes {
		if k == qtype {
			qt = i
			break
		}
	}
	rc := min(max(rcode, 0), numRcodes-1)
	zc, ok := m.zones.Load(zone)
	if !ok {
		zc, _ = m.zones.LoadOrStore(zone, new(zoneCounters))
	}
	return &zc.(*zoneCounters)[qt][rc]
}

// answerCounter returns the counter of answers with decision d.
func (m *Metrics) answerCounter(d *ServiceDecision) *atomic.Uint64 {
	k := AnswerKey{Service: d.Service, Strategy: string(d.Strategy)}
	if len(d.Regions) > 0 {
		k.Region = d.Regions[0].Name
	}
	c, ok := m.answers.Load(k)
	if !ok {
		c, _ = m.answers.LoadOrStore(k, new(atomic.Uint64))
	}
	return c.(*atomic.Uint64)
}

func (m *Metrics) observe(took time.Duration) {
	s := took.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	m.latency[i].Add(1)
	m.latencySum.Add(uint64(max(took, 0)))
	m.latencyRecs.Add(1)
}

// EachQuery calls f for every non-zero query counter. zone is "" for
// queries outside our zones; qtype is a type name or "other"; rcode is
// the rcode's name.
func (m *Metrics) EachQuery(f func(zone, qtype, rcode string, n uint64)) {
	m.zones.Range(func(k, v any) bool {
		zc := v.(*zoneCounters)
		for qt := range zc {
			name := "other"
			if qt < len(metricQtypes) {
				name = dns.TypeToString[metricQtypes[qt]]
			}
			for rc := range zc[qt] {
				if n := zc[qt][rc].Load(); n > 0 {
					rcode, ok := dns.RcodeToString[rc]
					if !ok {
						rcode = "other"
					}
					f(k.(string), name, rcode, n)
				}
			}
		}
		return true
	})
}

// EachAnswer calls f for every balancer decision counter.
func (m *Metrics) EachAnswer(f func(k AnswerKey, n uint64)) {
	m.answers.Range(func(k, v any) bool {
		f(k.(AnswerKey), v.(*atomic.Uint64).Load())
		return true
	})
}

// Latency returns the histogram of query handling times: cumulative
// counts per bucket of LatencyBuckets, the sum in seconds and the count.
func (m *Metrics) Latency() (buckets map[float64]uint64, sum float64, count uint64) {
	buckets = make(map[float64]uint64, len(LatencyBuckets))
	var cum uint64
	for i, ub := range LatencyBuckets {
		cum += m.latency[i].Load()
		buckets[ub] = cum
	}
	count = cum + m.latency[len(LatencyBuckets)].Load()
	return buckets, float64(m.latencySum.Load()) / 1e9, count
}

// Total returns how many queries have been handled so far: every query is
// observed once in the latency histogram.
func (m *Metrics) Total() uint64 { return m.latencyRecs.Load() }
