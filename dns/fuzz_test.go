package dns

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/geodns/geodns/balancer"
)

// FuzzRespondWire feeds arbitrary packets to the query path: it must never
// panic, and it either sends nothing or a response that parses, with the
// query's ID and the QR bit set.
func FuzzRespondWire(f *testing.F) {
	for _, tc := range protocolCases {
		m := new(dns.Msg)
		m.SetQuestion(tc.qname, tc.qtype)
		if tc.qclass != 0 {
			m.Question[0].Qclass = tc.qclass
		}
		if len(tc.options) > 0 {
			m.SetEdns0(4096, false)
			m.IsEdns0().Option = tc.options
		}
		if b, err := m.Pack(); err == nil {
			f.Add(b)
		}
	}
	snap := testSnapshotOnce(f)
	src := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, packet []byte) {
		for _, tcp := range []bool{false, true} {
			out := RespondWire(snap, packet, src, tcp)
			if out == nil {
				continue
			}
			var r dns.Msg
			if err := r.Unpack(out); err != nil {
				t.Fatalf("response does not parse: %v", err)
			}
			if !r.Response || r.Id != uint16(packet[0])<<8|uint16(packet[1]) {
				t.Fatalf("response has QR=%v ID=%d", r.Response, r.Id)
			}
			if !tcp && len(out) > MaxUDPSize {
				t.Fatalf("UDP response of %d bytes", len(out))
			}
		}
	})
}

// FuzzAnswerUDP checks the UDP path (the wire parser and the answer
// cache) against the full path on arbitrary packets: the same response,
// up to the case of names, or nothing from both.
func FuzzAnswerUDP(f *testing.F) {
	for i, c := range []cacheQuery{
		{name: "static.conformance.test.", qtype: dns.TypeA},
		{name: "WWW.conformance.test.", qtype: dns.TypeA, size: 1232, ecs: "198.51.100.0/24", nsid: true},
		{name: "www.conformance.test.", qtype: dns.TypeAAAA, size: 512, ecs: "2001:db8::/56", do: true, cookie: true},
		{name: "rr.conformance.test.", qtype: dns.TypeA, rd: true},
		{name: "big.conformance.test.", qtype: dns.TypeTXT, size: 600},
		{name: "x.wild.conformance.test.", qtype: dns.TypeANY},
		{name: "host.sub.conformance.test.", qtype: dns.TypeA},
		{name: "nope.conformance.test.", qtype: dns.TypeA, size: 1232, ecs: "0.0.0.0/0"},
	} {
		f.Add(c.pack(f, uint16(i)))
	}
	base := testSnapshotOnce(f)
	fullSnap := balancer.NewStore(&balancer.Snapshot{Zones: base.Zones, Geo: base.Geo, NodeID: base.NodeID}).Load()
	srv := NewServer(balancer.NewStore(&balancer.Snapshot{Zones: base.Zones, Geo: base.Geo, NodeID: base.NodeID}), zerolog.Nop())
	w := &udpWorker{s: srv}
	src := netip.MustParseAddrPort("203.0.113.9:5300")
	f.Fuzz(func(t *testing.T, packet []byte) {
		want := RespondWire(fullSnap, packet, src.Addr(), false)
		got := srv.answerUDP(w, packet, src, nil)
		if (want == nil) != (got == nil) {
			t.Fatalf("full path sent %d bytes, UDP path %d", len(want), len(got))
		}
		if got != nil {
			if len(got) > MaxUDPSize {
				t.Fatalf("UDP response of %d bytes", len(got))
			}
			sameResponse(t, want, got)
		}
	})
}
