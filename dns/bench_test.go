package dns

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/geo"
)

// benchQueries are the queries of the query path benchmarks.
var benchQueries = []struct {
	name string
	q    testCase
}{
	{"static-A", testCase{qname: "static.conformance.test.", qtype: dns.TypeA}},
	{"geo-A", testCase{qname: "www.conformance.test.", qtype: dns.TypeA}},
	{"geo-A-ECS", testCase{qname: "www.conformance.test.", qtype: dns.TypeA, options: []dns.EDNS0{ecs("198.51.100.0/24")}}},
	{"NXDOMAIN", testCase{qname: "nope.conformance.test.", qtype: dns.TypeA}},
	{"CNAME", testCase{qname: "alias.conformance.test.", qtype: dns.TypeA}},
}

func (c testCase) wire(b *testing.B) []byte {
	m := new(dns.Msg)
	m.SetQuestion(c.qname, c.qtype)
	if len(c.options) > 0 {
		m.SetEdns0(4096, false)
		m.IsEdns0().Option = c.options
	}
	wire, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	return wire
}

// BenchmarkRespond measures the full path, from query bytes to response
// bytes through dns.Msg, per kind of query.
func BenchmarkRespond(b *testing.B) {
	snap := balancer.NewStore(testSnapshot(b)).Load()
	src := netip.MustParseAddr("127.0.0.1")
	for _, c := range benchQueries {
		wire := c.q.wire(b)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if RespondWire(snap, wire, src, false) == nil {
					b.Fatal("no response")
				}
			}
		})
	}
}

// BenchmarkAnswerUDP measures what a UDP worker does per datagram: the
// answer cache, metrics and the rate limiter check (off), without the
// system calls.
func BenchmarkAnswerUDP(b *testing.B) {
	snap := testSnapshot(b)
	snap.Geo = geo.NewCache(snap.Geo, 1<<16) // as the server runs it
	s := NewServer(balancer.NewStore(snap), zerolog.Nop())
	w := &udpWorker{s: s}
	src := netip.MustParseAddrPort("127.0.0.1:5300")
	out := make([]byte, 0, MaxUDPSize)
	for _, c := range benchQueries {
		wire := c.q.wire(b)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s.answerUDP(w, wire, src, out) == nil {
					b.Fatal("no response")
				}
			}
		})
	}
}

// fakeWriter is a dns.ResponseWriter that discards what it is given.
type fakeWriter struct {
	dns.ResponseWriter
	addr net.Addr
}

func (w fakeWriter) RemoteAddr() net.Addr        { return w.addr }
func (w fakeWriter) LocalAddr() net.Addr         { return w.addr }
func (w fakeWriter) WriteMsg(m *dns.Msg) error   { return nil }
func (w fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkHandle measures Server.handle (Respond, rate limiter off,
// metrics) without the network.
func BenchmarkHandle(b *testing.B) {
	s := NewServer(balancer.NewStore(testSnapshot(b)), zerolog.Nop())
	w := fakeWriter{addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
	for _, name := range []string{"static.conformance.test.", "www.conformance.test."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.handle(w, m)
			}
		})
	}
}

// BenchmarkRecord measures the metrics recorded for one query.
func BenchmarkRecord(b *testing.B) {
	snap := balancer.NewStore(testSnapshot(b)).Load()
	m := new(dns.Msg)
	m.SetQuestion("www.conformance.test.", dns.TypeA)
	res := Respond(snap, m, netip.MustParseAddr("127.0.0.1"), false)
	var mt Metrics
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mt.Record(&res, 100*time.Microsecond)
		}
	})
}
