package dns

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/balancer"
)

// cacheQuery describes a query of the differential test.
type cacheQuery struct {
	name   string
	qtype  uint16
	size   uint16 // EDNS UDP size; 0: no OPT
	do     bool
	nsid   bool
	cookie bool
	ecs    string // client subnet
	src    string // packet source; default 127.0.0.1
	rd, cd bool
	ad     bool
}

func (c cacheQuery) pack(t testing.TB, id uint16) []byte {
	m := new(dns.Msg)
	m.SetQuestion(c.name, c.qtype)
	m.Id = id
	m.RecursionDesired, m.CheckingDisabled, m.AuthenticatedData = c.rd, c.cd, c.ad
	if c.size > 0 {
		m.SetEdns0(c.size, c.do)
		opt := m.IsEdns0()
		if c.nsid {
			opt.Option = append(opt.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
		}
		if c.cookie {
			opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}
		if c.ecs != "" {
			opt.Option = append(opt.Option, ecs(c.ecs))
		}
	}
	wire, err := m.Pack()
	require.NoError(t, err)
	return wire
}

// canonical renders a response for comparison in lower case: the case of
// names carries no meaning (RFC 4343), and a packed answer's compressed
// names follow the question's case. The question is compared as sent
// separately.
func canonical(t testing.TB, wire []byte) string {
	if wire == nil {
		return "<nothing>"
	}
	return strings.ToLower(unpack(t, wire).String())
}

func unpack(t testing.TB, wire []byte) *dns.Msg {
	m := new(dns.Msg)
	require.NoError(t, m.Unpack(wire))
	return m
}

// sameResponse requires got to be want up to the case of names; when both
// are truncated, got may hold more records: with names compressed against
// a question of another case, more of them fit.
func sameResponse(t testing.TB, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	if want != nil && got != nil {
		w, g := unpack(t, want), unpack(t, got)
		if w.Truncated && g.Truncated && len(g.Answer) > len(w.Answer) {
			g.Answer = g.Answer[:len(w.Answer)]
			require.Equal(t, strings.ToLower(w.String()), strings.ToLower(g.String()), msgAndArgs...)
			return
		}
	}
	require.Equal(t, canonical(t, want), canonical(t, got), msgAndArgs...)
}

// TestCacheMatchesFullPath answers the same queries through the UDP path
// (answer cache) and through RespondWire (the full parser and responder)
// and requires the same response, on the miss that fills the cache and on
// the hits that patch a packed answer for other clients, cases and IDs.
func TestCacheMatchesFullPath(t *testing.T) {
	set := testSnapshot(t)
	fullSnap := balancer.NewStore(&balancer.Snapshot{Zones: set.Zones, Geo: set.Geo, DefaultStrategy: set.DefaultStrategy, NodeID: set.NodeID}).Load()
	srv := NewServer(balancer.NewStore(set), zerolog.Nop())
	w := &udpWorker{s: srv}

	geoECS := []string{"198.51.100.0/24", "198.51.100.77/32", "203.0.113.0/24", "192.0.2.128/25", "192.0.2.0/24", "198.18.0.0/15", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "2001:db8:1::/48", "2001:db8::/56"}
	var cases []cacheQuery
	for _, name := range []string{"static.conformance.test.", "StAtIc.Conformance.TEST.", "alias.conformance.test.", "chain.conformance.test.",
		"toservice.conformance.test.", "external.conformance.test.", "toother.conformance.test.", "dangling.conformance.test.",
		"x.wild.conformance.test.", "Y.Wild.conformance.test.", "deep.ent.under.conformance.test.", "ent.under.conformance.test.",
		"host.sub.conformance.test.", "nope.conformance.test.", "conformance.test.", "www.conformance.test.", "WWW.conformance.test.",
		"rr.conformance.test.", "cdn.conformance.test.", "big.conformance.test.", "elsewhere.example."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeCNAME, dns.TypeMX, dns.TypeANY, dns.TypeNS, dns.TypeSOA, dns.TypeDS} {
			cases = append(cases, cacheQuery{name: name, qtype: qt})
			cases = append(cases, cacheQuery{name: name, qtype: qt, size: 1232, do: true, nsid: true, rd: true, ad: true})
		}
	}
	for _, name := range []string{"www.conformance.test.", "toservice.conformance.test.", "static.conformance.test.", "nope.conformance.test."} {
		for _, p := range geoECS {
			cases = append(cases, cacheQuery{name: name, qtype: dns.TypeA, size: 4096, ecs: p})
			cases = append(cases, cacheQuery{name: name, qtype: dns.TypeAAAA, size: 1232, ecs: p, cookie: true, cd: true})
		}
	}
	for _, src := range []string{"198.51.100.9", "203.0.113.200", "192.0.2.200", "2001:db8::5", "::1"} {
		cases = append(cases, cacheQuery{name: "www.conformance.test.", qtype: dns.TypeA, src: src})
		cases = append(cases, cacheQuery{name: "www.conformance.test.", qtype: dns.TypeA, size: 512, src: src})
	}
	for _, size := range []uint16{512, 600, 1232, 4096} {
		cases = append(cases, cacheQuery{name: "big.conformance.test.", qtype: dns.TypeTXT, size: size})
	}

	for i, c := range cases {
		src := netip.MustParseAddr("127.0.0.1")
		if c.src != "" {
			src = netip.MustParseAddr(c.src)
		}
		for round := range 3 {
			q := c
			if round == 2 {
				q.name = strings.ToUpper(q.name) // a hit with another case
			}
			wire := q.pack(t, uint16(i*3+round))
			want := RespondWire(fullSnap, wire, src, false)
			got := srv.answerUDP(w, wire, netip.AddrPortFrom(src, 53), nil)
			sameResponse(t, want, got, "%+v round %d", q, round)
			if got != nil {
				require.Equal(t, wire[12:12+len(q.name)+1], got[12:12+len(q.name)+1], "question echoed as sent")
			}
		}
	}
}

// TestWireQueryParse pins which queries the UDP path reads itself and
// which it leaves to the full parser.
func TestWireQueryParse(t *testing.T) {
	base := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		return m
	}
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		require.NoError(t, err)
		return b
	}
	withOpt := func(f func(*dns.OPT)) []byte {
		m := base()
		m.SetEdns0(1232, false)
		f(m.IsEdns0())
		return pack(m)
	}
	rawECS := func(family uint16, bits, scope byte, addr ...byte) []byte {
		return withOpt(func(o *dns.OPT) {
			data := binary.BigEndian.AppendUint16(nil, family)
			data = append(append(data, bits, scope), addr...)
			o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: data})
		})
	}
	cases := []struct {
		name string
		msg  []byte
		fast bool
	}{
		{"plain", pack(base()), true},
		{"AD set, as dig sends", func() []byte { m := base(); m.AuthenticatedData = true; return pack(m) }(), true},
		{"Z set", func() []byte { m := base(); m.Zero = true; return pack(m) }(), false},
		{"edns", withOpt(func(*dns.OPT) {}), true},
		{"ecs /24", withOpt(func(o *dns.OPT) { o.Option = append(o.Option, ecs("198.51.100.0/24")) }), true},
		{"ecs v6 /56", withOpt(func(o *dns.OPT) { o.Option = append(o.Option, ecs("2001:db8::/56")) }), true},
		{"ecs /0", rawECS(1, 0, 0), true},
		{"cookie", withOpt(func(o *dns.OPT) {
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}), true},
		{"response", func() []byte { m := base(); m.Response = true; return pack(m) }(), false},
		{"notify", func() []byte { m := base(); m.Opcode = dns.OpcodeNotify; return pack(m) }(), false},
		{"chaos", func() []byte { m := base(); m.Question[0].Qclass = dns.ClassCHAOS; return pack(m) }(), false},
		{"axfr", func() []byte { m := base(); m.Question[0].Qtype = dns.TypeAXFR; return pack(m) }(), false},
		{"two questions", func() []byte { m := base(); m.Question = append(m.Question, m.Question[0]); return pack(m) }(), false},
		{"answer section", func() []byte {
			m := base()
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: dns.ClassINET}}}
			return pack(m)
		}(), false},
		{"edns version 1", withOpt(func(o *dns.OPT) { o.SetVersion(1) }), false},
		{"ecs family 0", rawECS(0, 0, 0), false},
		{"ecs scope set", rawECS(1, 24, 8, 198, 51, 100), false},
		{"ecs bits past prefix", rawECS(1, 16, 0, 198, 51), true},
		{"ecs bits past prefix set", rawECS(1, 15, 0, 198, 51), false},
		{"ecs too many bytes", rawECS(1, 16, 0, 198, 51, 100), false},
		{"ecs prefix too long", rawECS(1, 33, 0, 1, 2, 3, 4, 5), false},
		{"unknown option", withOpt(func(o *dns.OPT) { o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: 65001}) }), false},
		{"trailing bytes", append(pack(base()), 0), false},
		{"short", pack(base())[:20], false},
		{"compressed name", []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var q wireQuery
			require.Equal(t, c.fast, q.parse(c.msg))
		})
	}
}
