package dns

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// answerUDP answers one datagram from src and returns the response to
// send (nil: none). The response may be built in out's storage.
func (s *Server) answerUDP(w *udpWorker, msg []byte, src netip.AddrPort, out []byte) []byte {
	start := w.arrived
	if start.IsZero() {
		start = time.Now()
	}
	c := s.currentCache()
	q := &w.q
	var res *Result
	if q.parse(msg) {
		a, full, ok := c.answer(q, src.Addr())
		if ok {
			return s.sendCached(w, &a, q, src, start, out)
		}
		res = full
	}
	if res == nil {
		r, _ := respondBytes(c.snap, msg, src.Addr(), false)
		res = &r
	}
	m := res.Msg
	if l := s.rrl.Load(); l != nil && m != nil {
		switch l.Check(src.Addr(), m) {
		case RRLDrop:
			m = nil
		case RRLSlip:
			m = Slipped(m)
		}
	}
	out = packResponse(m, msg)
	took := time.Since(start)
	s.stats.Record(res, took)
	if t := s.tap.Load(); t.Sampled() {
		rcode := -1
		if res.Msg != nil {
			rcode = res.Msg.Rcode
		}
		s.tapUDP(t, w, msg, out, src, res, rcode, start, took)
	}
	return out
}

// sendCached finishes a response from the answer cache: truncation, rate
// limiting, counters and the query log.
func (s *Server) sendCached(w *udpWorker, a *cached, q *wireQuery, src netip.AddrPort, start time.Time, out []byte) []byte {
	out = a.write(out, q)
	if len(out) > q.size {
		out = truncate(out, q.size)
		s.stats.Truncated.Add(1)
	}
	v := a.v
	if l := s.rrl.Load(); l != nil {
		switch l.check(src.Addr(), v.rrl) {
		case RRLDrop:
			out = nil
		case RRLSlip:
			out = slipped(out, q)
		}
	}
	v.queries.Add(1)
	if v.answers != nil {
		v.answers.Add(1)
	}
	if q.ecs {
		s.stats.ECS.Add(1)
	}
	took := time.Since(start)
	s.stats.observe(took)
	if t := s.tap.Load(); t.Sampled() {
		res := &Result{ECS: q.ecs}
		if v.answers != nil {
			res.Decisions = []ServiceDecision{{Decision: a.d}}
		}
		s.tapUDP(t, w, q.msg, out, src, res, v.rcode, start, took)
	}
	return out
}

// currentCache returns the answer cache of the current snapshot, making
// it when the snapshot is new. Only the current snapshot replaces a
// cache, so workers never take turns replacing each other's.
func (s *Server) currentCache() *answerCache {
	snap := s.store.Load()
	c := s.cache.Load()
	if c != nil && c.snap == snap {
		return c
	}
	next := newAnswerCache(snap, &s.stats)
	if s.cache.CompareAndSwap(c, next) {
		return next
	}
	if c = s.cache.Load(); c.snap == snap {
		return c
	}
	return next
}

// truncate cuts a packed response to size the way Respond does.
func truncate(out []byte, size int) []byte {
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		return nil
	}
	m.Truncate(size)
	m.Compress = true // as Respond does
	packed, err := m.Pack()
	if err != nil {
		return nil
	}
	return packed
}

// slipped is the packed form of Slipped: the header and question of out
// with TC set and nothing else.
func slipped(out []byte, q *wireQuery) []byte {
	out = out[:q.nameEnd+4]
	out[2] |= 0x02
	binary.BigEndian.PutUint16(out[4:], 1)
	clear(out[6:12])
	return out
}

// tapUDP emits the query log event of a UDP query.
func (s *Server) tapUDP(t *Tap, w *udpWorker, msg, out []byte, src netip.AddrPort, res *Result, rcode int, start time.Time, took time.Duration) {
	ev := t.NewEvent()
	ev.Time, ev.Duration = start, took
	ev.Client = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	ev.Server = w.sock.local()
	ev.SetQuery(msg)
	ev.SetResponse(out)
	req := new(dns.Msg)
	if req.Unpack(msg) != nil {
		req = nil
	}
	ev.Describe(req, res)
	ev.Rcode = rcode
	t.Emit(ev)
}
