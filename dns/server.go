package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
	stats Metrics

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
func (s *Server) Listen(addrs ...string) error {
	for _, addr := range addrs {
		pc, ln, err := listenBoth(addr)
		if err != nil {
			s.Shutdown(context.Background())
			return fmt.Errorf("dns listen %s: %w", addr, err)
		}
		s.serve(&dns.Server{PacketConn: pc, Net: "udp", UDPSize: dns.MaxMsgSize})
		s.serve(&dns.Server{Listener: ln, Net: "tcp"})
		s.mu.Lock()
		s.bound = append(s.bound, pc.LocalAddr().String())
		s.mu.Unlock()
		s.log.Info().Str("addr", pc.LocalAddr().String()).Msg("dns listening on udp and tcp")
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
	var errs []error
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
	s.send(w, res.Msg, src, tcp)
	s.stats.Record(&res, time.Since(start))
}

// send writes m (nil: nothing) through the rate limiter.
func (s *Server) send(w dns.ResponseWriter, m *dns.Msg, src netip.Addr, tcp bool) {
	if m == nil {
		return
	}
	if l := s.rrl.Load(); l != nil && !tcp {
		switch l.Check(src, m) {
		case RRLDrop:
			return
		case RRLSlip:
			m = Slipped(m)
		}
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug().Err(err).Str("client", w.RemoteAddr().String()).Msg("write response")
	}
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

// listenBoth binds UDP and TCP on the same port. With port 0 the kernel
// picks the UDP port; TCP may find it taken, so it retries a few times.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 5 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return nil, nil, lastErr
}
