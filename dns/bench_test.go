package dns

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/geodns/geodns/balancer"
)

// BenchmarkRespond measures the query path from a parsed query to a
// response message, per kind of query.
func BenchmarkRespond(b *testing.B) {
	snap := balancer.NewStore(testSnapshot(b)).Load()
	src := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		name string
		q    testCase
	}{
		{"static-A", testCase{qname: "static.conformance.test.", qtype: dns.TypeA}},
		{"geo-A", testCase{qname: "www.conformance.test.", qtype: dns.TypeA}},
		{"geo-A-ECS", testCase{qname: "www.conformance.test.", qtype: dns.TypeA, options: []dns.EDNS0{ecs("198.51.100.0/24")}}},
		{"NXDOMAIN", testCase{qname: "nope.conformance.test.", qtype: dns.TypeA}},
		{"CNAME", testCase{qname: "alias.conformance.test.", qtype: dns.TypeA}},
	}
	for _, c := range cases {
		m := new(dns.Msg)
		m.SetQuestion(c.q.qname, c.q.qtype)
		if len(c.q.options) > 0 {
			m.SetEdns0(4096, false)
			m.IsEdns0().Option = c.q.options
		}
		wire, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
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
