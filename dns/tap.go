package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/geodns/geodns/balancer"
)

// Query logging. A Tap takes one Event per sampled query and hands it to
// each of its sinks (dnstap, the JSON query log). The query path never
// waits for a sink: every sink has a buffer of fixed size, an event that
// does not fit is dropped and counted, and a goroutine per sink writes
// what the buffer holds. A query that is not sampled costs an atomic add
// (nothing at all when every query is logged, or without a tap).

// Event is one handled query as the query logs see it.
type Event struct {
	Time     time.Time      // when the query arrived
	Client   netip.AddrPort // the client's address and port
	Server   netip.AddrPort // local address; may be zero
	TCP      bool
	Query    []byte        // wire query, owned by the event
	Response []byte        // wire response as sent, owned by the event; nil when nothing was sent
	Name     string        // question name as asked ("" when none could be parsed)
	Qtype    uint16        // question type
	Rcode    int           // response code (extended rcodes included), -1 when there was no response
	ECS      netip.Prefix  // client subnet of the query; invalid when none
	Region   string        // first region of the first balancer decision; "" when none
	Why      string        // that decision's explanation, when the caller has it as text; see Explain
	Duration time.Duration // from the query's arrival to its response written

	decision    balancer.Decision // kept by Describe, rendered by Explain off the query path
	hasDecision bool

	tap  *Tap
	refs int32     // sinks still holding the event (atomic; a plain int32 so that Event copies)
	buf  [2][]byte // storage of Query and Response kept across reuse
}

// maxPooledBuf is the largest Query or Response buffer an Event keeps for
// reuse; larger ones (big TCP answers) go back to the garbage collector.
const maxPooledBuf = 4096

// Describe fills the fields that come from the parsed query and from how
// it was answered: name, type, rcode, client subnet, region and why. req
// may be nil (a query that did not parse).
func (ev *Event) Describe(req *dns.Msg, res *Result) {
	ev.Rcode = -1
	if res != nil && res.Msg != nil {
		ev.Rcode = res.Msg.Rcode
	}
	if req != nil {
		if len(req.Question) > 0 {
			ev.Name, ev.Qtype = req.Question[0].Name, req.Question[0].Qtype
		}
		if res != nil && res.ECS {
			if e, err := parseEDNS(req); err == nil && e.ecs != nil {
				ev.ECS = e.ecsAddr
			}
		}
	}
	if res != nil && len(res.Decisions) > 0 {
		d := &res.Decisions[0]
		if len(d.Regions) > 0 {
			ev.Region = d.Regions[0].Name
		}
		// Explaining costs more than the rest of the event together: the
		// sinks do it, on their own goroutines. The decision is not
		// changed once made, so the sinks may read it.
		ev.decision, ev.hasDecision = d.Decision, true
	}
}

// Explain is why Region was chosen: Why, or else the explanation of the
// decision Describe kept ("" when there was none). Sinks may call it
// concurrently.
func (ev *Event) Explain() string {
	if ev.Why == "" && ev.hasDecision {
		return ev.decision.Explain()
	}
	return ev.Why
}

// SetQuery copies b into the event as its wire query.
func (ev *Event) SetQuery(b []byte) { ev.Query = append(ev.buf[0][:0], b...) }

// SetResponse copies b into the event as its wire response (b nil:
// nothing was sent).
func (ev *Event) SetResponse(b []byte) {
	if b == nil {
		ev.Response = nil
		return
	}
	ev.Response = append(ev.buf[1][:0], b...)
}

// packQuery and packResponse pack m into the event's own storage.
func (ev *Event) packQuery(m *dns.Msg) {
	ev.Query, _ = m.PackBuffer(ev.buf[0][:cap(ev.buf[0])])
}

func (ev *Event) packResponse(m *dns.Msg) {
	ev.Response, _ = m.PackBuffer(ev.buf[1][:cap(ev.buf[1])])
}

// Release gives an event taken with NewEvent back without emitting it.
func (ev *Event) Release() {
	atomic.StoreInt32(&ev.refs, 1)
	ev.release()
}

func (ev *Event) release() {
	if atomic.AddInt32(&ev.refs, -1) != 0 {
		return
	}
	t := ev.tap
	buf := [2][]byte{keepBuf(ev.Query, ev.buf[0]), keepBuf(ev.Response, ev.buf[1])}
	*ev = Event{tap: t, buf: buf}
	t.pool.Put(ev)
}

// keepBuf is the storage an event keeps for its next use: b's (the
// latest, possibly grown) or else old's, empty, unless it is too large.
func keepBuf(b, old []byte) []byte {
	if b == nil {
		b = old
	}
	if cap(b) > maxPooledBuf {
		return nil
	}
	return b[:0]
}

// TapWriter is one sink's output, called from that sink's goroutine only.
type TapWriter interface {
	// Write writes one event; the event is only valid during the call.
	Write(ev *Event) error
	// Flush pushes buffered output out; it is called whenever the sink's
	// buffer runs empty.
	Flush() error
	// Close flushes and releases the output.
	Close() error
}

// TapConfig configures a Tap.
type TapConfig struct {
	// Sample logs 1 query in Sample; 0 and 1 log every query.
	Sample int
	// Buffer is the number of events each sink holds before it drops
	// them (default DefaultTapBuffer).
	Buffer int
	// Log receives the sinks' errors (once per failure, not per event).
	Log zerolog.Logger
}

// DefaultTapBuffer is the default number of events a sink buffers.
const DefaultTapBuffer = 4096

// Tap fans sampled query events out to its sinks. A nil *Tap samples
// nothing. Add the sinks before the tap is used (Server.SetTap).
type Tap struct {
	every  uint64
	n      atomic.Uint64
	buffer int
	log    zerolog.Logger
	sinks  []*sink
	closed atomic.Bool
	pool   sync.Pool
}

// TapStats are one sink's counters since the tap started.
type TapStats struct {
	Sink string
	// Written counts events handed to the output without error (a
	// failed flush may still lose the last of them).
	Written uint64
	// Dropped counts events not taken because the sink's buffer was full.
	Dropped uint64
	// Failed counts events the output failed to write (a file error, no
	// dnstap collector).
	Failed uint64
}

type sink struct {
	name  string
	w     TapWriter
	ch    chan *Event
	stop  chan struct{} // closed by Close: drain, flush, close
	done  chan struct{} // closed when the writer goroutine has finished
	log   zerolog.Logger
	stats struct{ written, dropped, failed atomic.Uint64 }
}

// NewTap returns a tap without sinks.
func NewTap(cfg TapConfig) *Tap {
	t := &Tap{every: uint64(max(cfg.Sample, 1)), buffer: cfg.Buffer, log: cfg.Log}
	if t.buffer <= 0 {
		t.buffer = DefaultTapBuffer
	}
	t.pool.New = func() any { return &Event{tap: t} }
	return t
}

// Add starts a sink named name (a metrics label: "dnstap", "querylog")
// writing to w. It must not be called once the tap is in use.
func (t *Tap) Add(name string, w TapWriter) {
	s := &sink{
		name: name,
		w:    w,
		ch:   make(chan *Event, t.buffer),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		log:  t.log.With().Str("sink", name).Logger(),
	}
	t.sinks = append(t.sinks, s)
	go s.run()
}

// Sampled reports whether the next query is to be logged. Callers check
// it before they build an Event; it is safe on a nil *Tap (false).
func (t *Tap) Sampled() bool {
	if t == nil {
		return false
	}
	if t.every == 1 {
		return true
	}
	return t.n.Add(1)%t.every == 0
}

// NewEvent returns an empty event to fill and Emit (or Release).
func (t *Tap) NewEvent() *Event { return t.pool.Get().(*Event) }

// Emit hands ev to every sink that has room for it and never blocks. The
// tap owns ev from here on.
func (t *Tap) Emit(ev *Event) {
	if t.closed.Load() || len(t.sinks) == 0 {
		ev.Release()
		return
	}
	atomic.StoreInt32(&ev.refs, int32(len(t.sinks)))
	for _, s := range t.sinks {
		select {
		case s.ch <- ev:
		default:
			s.stats.dropped.Add(1)
			ev.release()
		}
	}
}

// Stats returns each sink's counters; nil for a nil tap.
func (t *Tap) Stats() []TapStats {
	if t == nil {
		return nil
	}
	out := make([]TapStats, len(t.sinks))
	for i, s := range t.sinks {
		out[i] = TapStats{Sink: s.name, Written: s.stats.written.Load(), Dropped: s.stats.dropped.Load(), Failed: s.stats.failed.Load()}
	}
	return out
}

// Close stops taking events, writes what the sinks hold, flushes and
// closes their outputs. It gives up when ctx ends (a sink whose output
// blocks, such as a dnstap collector that does not read) and says which
// sinks did not finish. It is safe on a nil *Tap.
func (t *Tap) Close(ctx context.Context) error {
	if t == nil || t.closed.Swap(true) {
		return nil
	}
	for _, s := range t.sinks {
		close(s.stop)
	}
	var stuck []string
	for _, s := range t.sinks {
		select {
		case <-s.done:
		case <-ctx.Done():
			stuck = append(stuck, fmt.Sprintf("%s (%d events unwritten)", s.name, len(s.ch)))
		}
	}
	if len(stuck) > 0 {
		return fmt.Errorf("query log: %s not flushed: %w", strings.Join(stuck, ", "), ctx.Err())
	}
	return nil
}

// run is the sink's writer goroutine.
func (s *sink) run() {
	defer close(s.done)
	failing := false
	write := func(ev *Event) {
		err := s.w.Write(ev)
		ev.release()
		switch {
		case err == nil:
			s.stats.written.Add(1)
			if failing {
				failing = false
				s.log.Info().Msg("query log writes again")
			}
		default:
			s.stats.failed.Add(1)
			if !failing {
				failing = true
				s.log.Error().Err(err).Msg("query log write failed; events are lost until it recovers")
			}
		}
	}
	flush := func() {
		if err := s.w.Flush(); err != nil {
			if !failing {
				failing = true
				s.log.Error().Err(err).Msg("query log flush failed; events are lost until it recovers")
			}
		}
	}
	for {
		select {
		case ev := <-s.ch:
			write(ev)
			if len(s.ch) == 0 {
				flush()
			}
		case <-s.stop:
			for drained := false; !drained; {
				select {
				case ev := <-s.ch:
					write(ev)
				default:
					drained = true
				}
			}
			flush()
			if err := s.w.Close(); err != nil {
				s.log.Error().Err(err).Msg("query log close")
			}
			return
		}
	}
}

// SetTap sets the query log tap; nil turns query logging off. It may be
// called while serving.
func (s *Server) SetTap(t *Tap) { s.tap.Store(t) }

// Tap returns the query log tap in use, or nil.
func (s *Server) Tap() *Tap { return s.tap.Load() }

// tapQuery emits the event of one query answered through miekg/dns:
// sent is the message written (the slipped one under RRL), nil when
// nothing was. Only sampled queries get here, so packing again is fine.
func (s *Server) tapQuery(t *Tap, w dns.ResponseWriter, req *dns.Msg, res *Result, sent *dns.Msg, start time.Time, took time.Duration) {
	ev := t.NewEvent()
	ev.Time, ev.Duration = start, took
	ev.Client, ev.TCP = addrPort(w.RemoteAddr())
	ev.Server, _ = addrPort(w.LocalAddr())
	ev.packQuery(req)
	if sent != nil {
		ev.packResponse(sent)
	}
	ev.Describe(req, res)
	t.Emit(ev)
}

// addrPort converts a UDP or TCP address; tcp says which it was.
func addrPort(a net.Addr) (ap netip.AddrPort, tcp bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap, tcp = a.AddrPort(), true
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), tcp
}
