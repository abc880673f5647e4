package dns

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
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
