package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/geodns/geodns/balancer"
)

// Server serves the current snapshot of a balancer.Store over UDP and TCP
// on one or more addresses.
type Server struct {
	store *balancer.Store
	log   zerolog.Logger
	rrl   atomic.Pointer[RRL] // nil: no response rate limiting
	tap   atomic.Pointer[Tap] // nil: no query log
	stats Metrics

	// UDPWorkers is the number of UDP sockets (and goroutines) per
	// address; 0 means one per CPU the Go runtime uses (GOMAXPROCS, read
	// before Listen raises it to one more than the workers).
	UDPWorkers int

	cache atomic.Pointer[answerCache]
	udp   udpGroup

	mu      sync.Mutex
	servers []*dns.Server
	bound   []string
}

// NewServer returns a server that answers from store.
func NewServer(store *balancer.Store, log zerolog.Logger) *Server {
	return &Server{store: store, log: log}
}

// SetRRL sets the response rate limiter applied to UDP responses; nil
// turns limiting off. It may be called while serving.
func (s *Server) SetRRL(l *RRL) { s.rrl.Store(l) }

// Metrics returns the server's query counters.
func (s *Server) Metrics() *Metrics { return &s.stats }

// RRL returns the response rate limiter in use, or nil.
func (s *Server) RRL() *RRL { return s.rrl.Load() }

// Listen binds UDP and TCP on each address (host:port; port 0 picks a free
// port shared by both transports) and starts serving. It returns once
// every listener is bound, or the first error after closing the others.
// UDP is served by UDPWorkers sockets per address with batched system
// calls; TCP by miekg/dns.
func (s *Server) Listen(addrs ...string) error {
	workers := s.UDPWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// A UDP worker keeps its P while it waits (udp_linux.go): one P more
	// than there are workers keeps the rest of the process running.
	if need := workers*len(addrs) + 1; runtime.GOMAXPROCS(0) < need {
		runtime.GOMAXPROCS(need)
	}
	for _, addr := range addrs {
		socks, ln, err := listenBoth(addr, workers)
		if err != nil {
			s.Shutdown(context.Background())
			return fmt.Errorf("dns listen %s: %w", addr, err)
		}
		s.udp.start(s, socks)
		s.serve(&dns.Server{Listener: ln, Net: "tcp"})
		bound := socks[0].local().String()
		s.mu.Lock()
		s.bound = append(s.bound, bound)
		s.mu.Unlock()
		s.log.Info().Str("addr", bound).Int("udp_workers", workers).Int("gomaxprocs", runtime.GOMAXPROCS(0)).Msg("dns listening on udp and tcp")
	}
	return nil
}

// Addrs returns the bound addresses (useful with port 0).
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bound...)
}

func (s *Server) serve(srv *dns.Server) {
	srv.Handler = dns.HandlerFunc(s.handle)
	srv.MsgAcceptFunc = acceptQueries
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	go func() {
		if err := srv.ActivateAndServe(); err != nil {
			s.log.Error().Err(err).Str("net", srv.Net).Msg("dns server stopped")
		}
	}()
	<-started
}

// Shutdown stops every listener and waits for in-flight queries, up to
// ctx's deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	errs := []error{s.udp.stop(ctx)}
	for _, srv := range servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) handle(w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	src := addrOf(w.RemoteAddr())
	res := Respond(s.store.Load(), req, src, tcp)
	sent := s.send(w, res.Msg, src, tcp)
	took := time.Since(start)
	s.stats.Record(&res, took)
	if t := s.tap.Load(); t.Sampled() {
		s.tapQuery(t, w, req, &res, sent, start, took)
	}
}

// send writes m (nil: nothing) through the rate limiter and returns what
// it wrote: m, its slipped form, or nil.
func (s *Server) send(w dns.ResponseWriter, m *dns.Msg, src netip.Addr, tcp bool) *dns.Msg {
	if m == nil {
		return nil
	}
	if l := s.rrl.Load(); l != nil && !tcp {
		switch l.Check(src, m) {
		case RRLDrop:
			return nil
		case RRLSlip:
			m = Slipped(m)
		}
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug().Err(err).Str("client", w.RemoteAddr().String()).Msg("write response")
	}
	return m
}

// acceptQueries lets every query through to Respond, which owns the
// FORMERR and NOTIMP decisions; responses are never answered, so two
// servers cannot be made to loop.
func acceptQueries(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 {
		return dns.MsgIgnore
	}
	return dns.MsgAccept
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
