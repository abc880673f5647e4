package cmd

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/geodns/geodns/balancer"
	dnsserver "github.com/geodns/geodns/dns"
	"github.com/geodns/geodns/health"
)

// metricsCollector reads the server's counters and states at scrape
// time, so the query path only bumps plain atomics.
type metricsCollector struct {
	store   *balancer.Store
	ctl     *balancer.Control
	checker *health.Checker // nil: no health metrics
	dns     *dnsserver.Server
	reloads atomic.Pointer[ReloadStats] // set once the reloader runs
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descQueries   = desc("geodns_dns_queries_total", "DNS queries answered, by zone (\"\" outside our zones), query type and rcode.", "zone", "qtype", "rcode")
	descAnswers   = desc("geodns_dns_answers_total", "Load-balanced answers, by service, best region chosen (\"\" when none) and strategy.", "service", "region", "strategy")
	descECS       = desc("geodns_dns_ecs_queries_total", "DNS queries carrying an EDNS client subnet option.")
	descTruncated = desc("geodns_dns_truncated_total", "DNS answers truncated (TC=1) to fit the UDP size, rate-limiter slips excluded.")
	descLatency   = desc("geodns_dns_query_duration_seconds", "Time to handle a DNS query, from parsed query to written response.")
	descUp        = desc("geodns_region_up", "1 when the region passes its health checks, else 0.", "region")
	descStale     = desc("geodns_region_health_stale", "1 when the region's last health check is older than allowed.", "region")
	descCheckLat  = desc("geodns_region_check_latency_seconds", "Moving average of the region's successful health-check latency (0: not measured).", "region")
	descFailovers = desc("geodns_failovers", "Failovers in effect, by kind (manual, automatic).", "kind")
	descFailOpen  = desc("geodns_failopen_answers_total", "Answers given as if every region were up because all of the service's regions were down.")
	descRRL       = desc("geodns_rrl_responses_total", "UDP responses over the response rate limit, by action (limited = slipped + dropped).", "action")
	descReloads   = desc("geodns_reloads_total", "Reloads of the zone files and of the GeoIP database, by kind and result.", "kind", "result")
	descQLog      = desc("geodns_querylog_events_total", "Sampled queries by query log output (sink: dnstap, querylog) and result: written; dropped because the output's buffer was full; failed to write (file error, no dnstap collector).", "sink", "result")
	descLastLoad  = desc("geodns_reload_last_success_timestamp_seconds", "Unix time of the last successful zone reload (0: none since start).")
)

func (m *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueries, descAnswers, descECS, descTruncated, descLatency,
		descUp, descStale, descCheckLat, descFailovers, descFailOpen, descRRL, descReloads, descLastLoad, descQLog} {
		ch <- d
	}
}

func (m *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if m.dns != nil {
		dm := m.dns.Metrics()
		dm.EachQuery(func(zone, qtype, rcode string, n uint64) { counter(descQueries, n, zone, qtype, rcode) })
		dm.EachAnswer(func(k dnsserver.AnswerKey, n uint64) { counter(descAnswers, n, k.Service, k.Region, k.Strategy) })
		counter(descECS, dm.ECS.Load())
		counter(descTruncated, dm.Truncated.Load())
		buckets, sum, count := dm.Latency()
		ch <- prometheus.MustNewConstHistogram(descLatency, count, sum, buckets)
		rrl := m.dns.RRL().Stats()
		counter(descRRL, rrl.Limited, "limited")
		counter(descRRL, rrl.Slipped, "slipped")
		counter(descRRL, rrl.Dropped, "dropped")
		for _, st := range m.dns.Tap().Stats() {
			counter(descQLog, st.Written, st.Sink, "written")
			counter(descQLog, st.Dropped, st.Sink, "dropped")
			counter(descQLog, st.Failed, st.Sink, "failed")
		}
	}
	if m.checker != nil {
		for name, st := range m.checker.States() {
			gauge(descUp, b2f(st.Up), name)
			gauge(descStale, b2f(st.Stale), name)
			gauge(descCheckLat, st.Latency.Seconds(), name)
		}
	}
	if m.ctl != nil {
		manual, auto := m.ctl.FailoverStatus()
		gauge(descFailovers, float64(len(manual)), "manual")
		gauge(descFailovers, float64(len(auto)), "automatic")
	}
	counter(descFailOpen, m.store.Stats().FailOpen.Load())
	if r := m.reloads.Load(); r != nil {
		counter(descReloads, r.ZoneSuccess.Load(), "zones", "success")
		counter(descReloads, r.ZoneFailure.Load(), "zones", "failure")
		counter(descReloads, r.GeoSuccess.Load(), "geoip", "success")
		counter(descReloads, r.GeoFailure.Load(), "geoip", "failure")
		last := 0.0
		if t := r.LastSuccess(); !t.IsZero() {
			last = float64(t.UnixNano()) / 1e9
		}
		gauge(descLastLoad, last)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// newMetrics builds the registry GET /metrics serves: the server's
// metrics plus the Go runtime and process collectors.
func newMetrics(mc *metricsCollector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(mc, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
