package dns

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/zones"
)

const (
	// The direct-mapped table of packed answers has two slots per name
	// served (most names are asked one or two types), within these bounds:
	// 4096 slots cost 32 KiB per snapshot, 2^18 cost 2 MiB and hold the
	// busy names of zones larger than that.
	minCacheSlots = 1 << 12
	maxCacheSlots = 1 << 18
	// maxVariants bounds the answers kept for one load-balanced name: one
	// per distinct region list its decisions produce.
	maxVariants = 64
)

// answerCache holds packed responses built from one snapshot, so that the
// common query is answered by copying bytes and patching the ID, the
// question's case and the client subnet, with no dns.Msg built. An entry
// is keyed on what the response depends on apart from the client (see
// wireQuery.key); for a load-balanced name the balancer still decides for
// every query, and the decision's region list selects the packed variant.
// Responses are built by the same code as uncached ones (respond), so the
// two cannot drift apart. The table is read with atomic loads only; a
// new snapshot gets a new cache.
type answerCache struct {
	snap  *balancer.Snapshot
	stats *Metrics
	seed  maphash.Seed
	mask  uint64
	slots []atomic.Pointer[cacheEntry]
}

type cacheEntry struct {
	key string
	// svc is the service whose decision the response depends on; nil
	// when it depends on none and variants holds the one response.
	svc      *zones.Service
	variants atomic.Pointer[[]*variant]
}

// variant is one packed response: the question in lower case, ID 0, RD
// and CD clear, the client subnet as the first client sent it.
type variant struct {
	regions []*zones.Region // the decision it answers (nil: static)
	wire    []byte
	// ecsAddr is the offset of the echoed ECS address (its scope byte
	// just before it); 0 when the response echoes none.
	ecsAddr int
	rcode   int
	// Counters this response adds to (answers: nil without a decision).
	queries, answers *atomic.Uint64
	rrl              []byte // rrlResponse of the response
}

func newAnswerCache(snap *balancer.Snapshot, stats *Metrics) *answerCache {
	names := 0
	for _, z := range snap.Zones.Zones {
		names += len(z.Nodes)
	}
	n := minCacheSlots
	for n < 2*names && n < maxCacheSlots {
		n <<= 1
	}
	return &answerCache{snap: snap, stats: stats, seed: maphash.MakeSeed(), mask: uint64(n - 1), slots: make([]atomic.Pointer[cacheEntry], n)}
}

// cached is one answer from the cache: the variant and the decision that
// chose it.
type cached struct {
	v     *variant
	d     balancer.Decision
	scope int
}

// answer returns the response variant for q from src. ok is false when
// the response cannot come from the cache; res is then the response the
// full path built, when it built one (nil: build it).
func (c *answerCache) answer(q *wireQuery, src netip.Addr) (a cached, res *Result, ok bool) {
	key := q.key[:q.klen]
	slot := &c.slots[maphash.Bytes(c.seed, key)&c.mask]
	e := slot.Load()
	if e == nil || e.key != string(key) {
		return c.fill(slot, q, src)
	}
	vp := e.variants.Load()
	vs := *vp
	if e.svc == nil {
		return cached{v: vs[0]}, nil, true
	}
	a.d = c.snap.Decide(e.svc, clientOf(c.snap, src, q.ecs, q.ecsPrefix))
	a.scope = a.d.Scope
	for _, v := range vs {
		if sameRegions(v.regions, a.d.Regions) {
			a.v = v
			return a, nil, true
		}
	}
	v, res := c.addVariant(e, vp, q, src, a.d)
	if v == nil {
		return cached{}, res, false
	}
	a.v = v
	return a, nil, true
}

// addVariant builds the response for a region list not seen yet with the
// decision d just made, so the rotation advances once per query, and
// keeps it while the entry has room.
func (c *answerCache) addVariant(e *cacheEntry, vp *[]*variant, q *wireQuery, src netip.Addr, d balancer.Decision) (*variant, *Result) {
	res, v := c.build(q, src, func(svc *zones.Service, client balancer.Client) balancer.Decision {
		if svc != e.svc {
			return c.snap.Decide(svc, client)
		}
		return d
	})
	if v == nil {
		return nil, res
	}
	if vs := *vp; len(vs) < maxVariants {
		next := append(vs[:len(vs):len(vs)], v)
		e.variants.CompareAndSwap(vp, &next)
	}
	return v, nil
}

// fill builds the response for a key not in the cache and stores it when
// it can be reused.
func (c *answerCache) fill(slot *atomic.Pointer[cacheEntry], q *wireQuery, src netip.Addr) (cached, *Result, bool) {
	res, v := c.build(q, src, nil)
	if v == nil {
		return cached{}, res, false
	}
	e := &cacheEntry{key: string(q.key[:q.klen])}
	var a cached
	if len(res.Decisions) == 1 {
		e.svc = res.Decisions[0].svc
		a.d, a.scope = res.Decisions[0].Decision, res.Decisions[0].Scope
	}
	e.variants.Store(&[]*variant{v})
	slot.Store(e)
	a.v = v
	return a, nil, true
}

// build answers q with the full responder, from a copy whose question is
// in lower case and over TCP (no truncation: the caller truncates per
// client). It returns the packed variant when the response can be reused:
// at most one balancer decision. Otherwise the variant is nil and res is
// the response for the query as asked, ready to send.
func (c *answerCache) build(q *wireQuery, src netip.Addr, decide decider) (*Result, *variant) {
	req := new(dns.Msg)
	if err := req.Unpack(q.msg); err != nil {
		return nil, nil
	}
	asked := req.Question[0].Name
	req.Question[0].Name = strings.ToLower(asked)
	res := respond(c.snap, req, src, true, decide)
	if res.Msg == nil || len(res.Decisions) > 1 {
		return c.asAsked(&res, asked, q), nil
	}
	wire, err := res.Msg.Pack()
	if err != nil {
		return c.asAsked(&res, asked, q), nil
	}
	wire[2] &^= 0x01 // RD
	wire[3] &^= 0x10 // CD
	binary.BigEndian.PutUint16(wire, 0)
	v := &variant{
		wire:    wire,
		rcode:   res.Msg.Rcode,
		queries: c.stats.queryCounter(res.Zone, q.qtype, res.Msg.Rcode),
		rrl:     rrlResponse(nil, res.Msg),
	}
	if q.ecs {
		// The echoed option ends the response (responseOPT puts it last
		// in the OPT record, the last record); check rather than trust.
		v.ecsAddr = len(wire) - len(q.ecsAddr)
		if at := v.ecsAddr - 8; at < headerLen || binary.BigEndian.Uint16(wire[at:]) != dns.EDNS0SUBNET {
			return c.asAsked(&res, asked, q), nil
		}
	}
	if len(res.Decisions) == 1 {
		v.regions = res.Decisions[0].Regions
		v.answers = c.stats.answerCounter(&res.Decisions[0])
	}
	return &res, v
}

// asAsked turns a response built for the lower-case question back into
// the response to q as asked, truncated for UDP.
func (c *answerCache) asAsked(res *Result, asked string, q *wireQuery) *Result {
	if res.Msg != nil {
		res.Msg.Question[0].Name = asked
		res.Msg.Truncate(q.size)
	}
	return res
}

// write appends to out the response to q from a: the variant patched with
// the query's ID, flags, question case and client subnet. The caller
// truncates it when it is larger than the client accepts.
func (a *cached) write(out []byte, q *wireQuery) []byte {
	v := a.v
	out = append(out[:0], v.wire...)
	out[0], out[1] = q.msg[0], q.msg[1]
	out[2] |= q.msg[2] & 0x01 // RD
	out[3] |= q.msg[3] & 0x10 // CD
	copy(out[headerLen:q.nameEnd], q.msg[headerLen:q.nameEnd])
	if v.ecsAddr > 0 {
		copy(out[v.ecsAddr:], q.ecsAddr)
		out[v.ecsAddr-1] = byte(min(a.scope, q.ecsPrefix.Bits()))
	}
	return out
}

func sameRegions(a, b []*zones.Region) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
