package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/geo"
	"github.com/geodns/geodns/zones"
)

// testSnapshot loads the conformance zones and the test GeoIP database.
func testSnapshot(t testing.TB) *balancer.Snapshot {
	t.Helper()
	set, err := zones.LoadDir("testdata/zones", nil)
	require.NoError(t, err)
	db, err := geo.Open("../testdata/geoip-city.mmdb")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return &balancer.Snapshot{Zones: set, Geo: db, DefaultStrategy: balancer.RoundRobin, NodeID: "node-a"}
}

// startServer serves snap on 127.0.0.1 (a free port, UDP and TCP).
func startServer(t testing.TB, snap *balancer.Snapshot) (string, *balancer.Store) {
	t.Helper()
	store := balancer.NewStore(snap)
	return listen(t, NewServer(store, zerolog.Nop()), "127.0.0.1:0"), store
}

// listen starts srv on addr, stops it when the test ends and returns the
// address it is bound to.
func listen(t testing.TB, srv *Server, addr string) string {
	t.Helper()
	require.NoError(t, srv.Listen(addr))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addrs()[0]
}

// ecs returns the EDNS0 client subnet option for prefix p.
func ecs(p string) dns.EDNS0 { return ClientSubnet(netip.MustParsePrefix(p)) }

type testCase struct {
	name    string
	qname   string
	qtype   uint16
	qclass  uint16
	edns    bool        // add OPT (4096)
	options []dns.EDNS0 // EDNS options (implies edns)
	opcode  int

	rcode  int
	aa     bool
	answer []string
	ns     []string
	extra  []string // non-OPT additional records
	scope  int      // expected ECS scope when options carry ECS
	nsid   string   // expected NSID payload (hex) when asked
}

var protocolCases = []testCase{
	{name: "apex SOA", qname: "conformance.test.", qtype: dns.TypeSOA, aa: true,
		answer: []string{"conformance.test.\t3600\tIN\tSOA\tns1.conformance.test. hostmaster.conformance.test. 2026112501 7200 1800 259200 600"}},
	{name: "apex NS", qname: "conformance.test.", qtype: dns.TypeNS, aa: true,
		answer: []string{"conformance.test.\t300\tIN\tNS\tns1.conformance.test.", "conformance.test.\t300\tIN\tNS\tns2.elsewhere.example."}},
	{name: "static A", qname: "static.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"static.conformance.test.\t300\tIN\tA\t192.0.2.1"}},
	{name: "mixed case echoed", qname: "StAtIc.CoNfOrMaNcE.TeSt.", qtype: dns.TypeAAAA, aa: true,
		answer: []string{"static.conformance.test.\t300\tIN\tAAAA\t2001:db8::1"}},
	{name: "NODATA has SOA at negative TTL", qname: "static.conformance.test.", qtype: dns.TypeMX, aa: true,
		ns: []string{"conformance.test.\t600\tIN\tSOA\tns1.conformance.test. hostmaster.conformance.test. 2026112501 7200 1800 259200 600"}},
	{name: "NXDOMAIN has SOA", qname: "nope.conformance.test.", qtype: dns.TypeA, aa: true, rcode: dns.RcodeNameError,
		ns: []string{"conformance.test.\t600\tIN\tSOA\tns1.conformance.test. hostmaster.conformance.test. 2026112501 7200 1800 259200 600"}},
	{name: "empty non-terminal is NODATA", qname: "ent.under.conformance.test.", qtype: dns.TypeA, aa: true,
		ns: []string{"conformance.test.\t600\tIN\tSOA\tns1.conformance.test. hostmaster.conformance.test. 2026112501 7200 1800 259200 600"}},
	{name: "below an existing name is NXDOMAIN", qname: "x.static.conformance.test.", qtype: dns.TypeA, aa: true, rcode: dns.RcodeNameError,
		ns: []string{"conformance.test.\t600\tIN\tSOA\tns1.conformance.test. hostmaster.conformance.test. 2026112501 7200 1800 259200 600"}},
	{name: "wildcard synthesizes the query name", qname: "Foo.wild.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"foo.wild.conformance.test.\t300\tIN\tA\t192.0.2.99"}},
	{name: "wildcard matches several labels", qname: "a.b.wild.conformance.test.", qtype: dns.TypeTXT, aa: true,
		answer: []string{"a.b.wild.conformance.test.\t300\tIN\tTXT\t\"wild\""}},
	{name: "wildcard NODATA", qname: "foo.wild.conformance.test.", qtype: dns.TypeMX, aa: true,
		ns: []string{"conformance.test.\t600\tIN\tSOA\tns1.conformance.test. hostmaster.conformance.test. 2026112501 7200 1800 259200 600"}},
	{name: "wildcard does not cover an existing name's children", qname: "x.deep.ent.under.conformance.test.", qtype: dns.TypeA, aa: true, rcode: dns.RcodeNameError,
		ns: []string{"conformance.test.\t600\tIN\tSOA\tns1.conformance.test. hostmaster.conformance.test. 2026112501 7200 1800 259200 600"}},
	{name: "CNAME followed in zone", qname: "alias.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"alias.conformance.test.\t300\tIN\tCNAME\tstatic.conformance.test.", "static.conformance.test.\t300\tIN\tA\t192.0.2.1"}},
	{name: "CNAME chain", qname: "chain.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"chain.conformance.test.\t300\tIN\tCNAME\talias.conformance.test.", "alias.conformance.test.\t300\tIN\tCNAME\tstatic.conformance.test.", "static.conformance.test.\t300\tIN\tA\t192.0.2.1"}},
	{name: "CNAME query returns the CNAME only", qname: "alias.conformance.test.", qtype: dns.TypeCNAME, aa: true,
		answer: []string{"alias.conformance.test.\t300\tIN\tCNAME\tstatic.conformance.test."}},
	{name: "CNAME into another served zone", qname: "toother.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"toother.conformance.test.\t300\tIN\tCNAME\tstatic.other.test.", "static.other.test.\t3600\tIN\tA\t192.0.2.2"}},
	{name: "CNAME to a service", qname: "toservice.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"toservice.conformance.test.\t300\tIN\tCNAME\twww.conformance.test.", "www.conformance.test.\t30\tIN\tA\t192.0.2.10"}},
	{name: "CNAME out of our zones", qname: "external.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"external.conformance.test.\t300\tIN\tCNAME\ttarget.elsewhere.example."}},
	{name: "dangling CNAME is NXDOMAIN", qname: "dangling.conformance.test.", qtype: dns.TypeA, aa: true, rcode: dns.RcodeNameError,
		answer: []string{"dangling.conformance.test.\t300\tIN\tCNAME\tmissing.conformance.test."},
		ns:     []string{"conformance.test.\t600\tIN\tSOA\tns1.conformance.test. hostmaster.conformance.test. 2026112501 7200 1800 259200 600"}},
	{name: "delegation is a referral with glue", qname: "host.sub.conformance.test.", qtype: dns.TypeA,
		ns:    []string{"sub.conformance.test.\t300\tIN\tNS\tns.sub.conformance.test."},
		extra: []string{"ns.sub.conformance.test.\t300\tIN\tA\t192.0.2.54"}},
	{name: "outside our zones is REFUSED", qname: "example.org.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
	{name: "parent of a zone is REFUSED", qname: "test.", qtype: dns.TypeSOA, rcode: dns.RcodeRefused},
	{name: "ANY gets one RRset", qname: "static.conformance.test.", qtype: dns.TypeANY, aa: true,
		answer: []string{"static.conformance.test.\t300\tIN\tA\t192.0.2.1"}},
	{name: "class HS is REFUSED", qname: "static.conformance.test.", qtype: dns.TypeA, qclass: dns.ClassHESIOD, rcode: dns.RcodeRefused},
	{name: "CHAOS id.server", qname: "id.server.", qtype: dns.TypeTXT, qclass: dns.ClassCHAOS,
		answer: []string{"id.server.\t0\tCH\tTXT\t\"node-a\""}},
	{name: "CHAOS hostname.bind", qname: "hostname.bind.", qtype: dns.TypeTXT, qclass: dns.ClassCHAOS,
		answer: []string{"hostname.bind.\t0\tCH\tTXT\t\"node-a\""}},
	{name: "CHAOS version.bind is REFUSED", qname: "version.bind.", qtype: dns.TypeTXT, qclass: dns.ClassCHAOS, rcode: dns.RcodeRefused},
	{name: "NSID", qname: "static.conformance.test.", qtype: dns.TypeA, aa: true, options: []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}},
		answer: []string{"static.conformance.test.\t300\tIN\tA\t192.0.2.1"}, nsid: "6e6f64652d61"},
	{name: "opcode STATUS is NOTIMP", qname: "static.conformance.test.", qtype: dns.TypeA, opcode: dns.OpcodeStatus, rcode: dns.RcodeNotImplemented},
	{name: "service from loopback (NA)", qname: "www.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"www.conformance.test.\t30\tIN\tA\t192.0.2.10"}},
	{name: "service AAAA", qname: "www.conformance.test.", qtype: dns.TypeAAAA, aa: true,
		answer: []string{"www.conformance.test.\t30\tIN\tAAAA\t2001:db8::10"}},
	{name: "service TXT comes from the static records", qname: "www.conformance.test.", qtype: dns.TypeTXT, aa: true,
		answer: []string{"www.conformance.test.\t300\tIN\tTXT\t\"service text\""}},
	{name: "ECS EU", qname: "www.conformance.test.", qtype: dns.TypeA, aa: true, options: []dns.EDNS0{ecs("198.51.100.0/24")},
		answer: []string{"www.conformance.test.\t30\tIN\tA\t198.51.100.10"}, scope: 24},
	{name: "ECS AAAA for a region without IPv6 is NODATA", qname: "www.conformance.test.", qtype: dns.TypeAAAA, aa: true, options: []dns.EDNS0{ecs("198.51.100.0/24")},
		ns: []string{"conformance.test.\t600\tIN\tSOA\tns1.conformance.test. hostmaster.conformance.test. 2026112501 7200 1800 259200 600"}, scope: 24},
	{name: "ECS /24 inside a /15 network gets scope 15", qname: "www.conformance.test.", qtype: dns.TypeA, aa: true, options: []dns.EDNS0{ecs("198.18.5.0/24")},
		answer: []string{"www.conformance.test.\t30\tIN\tA\t203.0.113.10"}, scope: 15},
	{name: "ECS scope is capped at the source prefix", qname: "www.conformance.test.", qtype: dns.TypeA, aa: true, options: []dns.EDNS0{ecs("198.51.100.0/22")},
		answer: []string{"www.conformance.test.\t30\tIN\tA\t198.51.100.10"}, scope: 22},
	{name: "ECS network override", qname: "www.conformance.test.", qtype: dns.TypeA, aa: true, options: []dns.EDNS0{ecs("192.0.2.128/26")},
		answer: []string{"www.conformance.test.\t30\tIN\tA\t198.51.100.10"}, scope: 25},
	{name: "ECS IPv6", qname: "www.conformance.test.", qtype: dns.TypeA, aa: true, options: []dns.EDNS0{ecs("2001:db8:1::/48")},
		answer: []string{"www.conformance.test.\t30\tIN\tA\t198.51.100.10"}, scope: 32},
	{name: "ECS source 0 uses no address", qname: "www.conformance.test.", qtype: dns.TypeA, aa: true, options: []dns.EDNS0{ecs("0.0.0.0/0")},
		answer: []string{"www.conformance.test.\t30\tIN\tA\t203.0.113.10"}, scope: 0},
	{name: "ECS on a static name has scope 0", qname: "static.conformance.test.", qtype: dns.TypeA, aa: true, options: []dns.EDNS0{ecs("198.51.100.0/24")},
		answer: []string{"static.conformance.test.\t300\tIN\tA\t192.0.2.1"}, scope: 0},
	{name: "round robin with two answers", qname: "rr.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"rr.conformance.test.\t20\tIN\tA\t192.0.2.10", "rr.conformance.test.\t20\tIN\tA\t198.51.100.10"}},
	{name: "region with a host name endpoint answers CNAME", qname: "cdn.conformance.test.", qtype: dns.TypeA, aa: true,
		answer: []string{"cdn.conformance.test.\t60\tIN\tCNAME\tcdn.elsewhere.example."}},
}

func exchange(t *testing.T, c *dns.Client, addr string, tc testCase) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(tc.qname, tc.qtype)
	m.RecursionDesired = false
	if tc.qclass != 0 {
		m.Question[0].Qclass = tc.qclass
	}
	if tc.opcode != 0 {
		m.Opcode = tc.opcode
	}
	if tc.edns || len(tc.options) > 0 {
		m.SetEdns0(4096, false)
		m.IsEdns0().Option = tc.options
	}
	r, _, err := c.Exchange(m, addr)
	require.NoError(t, err)
	require.Equal(t, m.Id, r.Id)
	return r
}

// rrStrings renders received records with their owner names in lower
// case: owner case carries no meaning (RFC 4343), and answers from the
// packed-answer cache echo the question's case through name compression.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		out = append(out, rr.String())
	}
	return out
}

func TestProtocol(t *testing.T) {
	addr, store := startServer(t, testSnapshot(t))
	for _, proto := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
		for _, tc := range protocolCases {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				if tc.name == "round robin with two answers" {
					// Rotation depends on how many queries came before.
					store.Update(func(*balancer.Snapshot) {})
				}
				r := exchange(t, c, addr, tc)
				require.Equal(t, dns.RcodeToString[tc.rcode], dns.RcodeToString[r.Rcode])
				require.True(t, r.Response)
				require.Equal(t, tc.aa, r.Authoritative, "aa flag")
				require.False(t, r.RecursionAvailable)
				if tc.opcode == 0 {
					require.Equal(t, tc.qname, r.Question[0].Name, "question echoed as sent")
				}
				if tc.name != "round robin with two answers" {
					require.Equal(t, tc.answer, rrStrings(r.Answer))
				} else {
					require.ElementsMatch(t, tc.answer, rrStrings(r.Answer))
				}
				require.Equal(t, tc.ns, rrStrings(r.Ns))
				require.Equal(t, tc.extra, rrStrings(r.Extra))
				opt := r.IsEdns0()
				if tc.edns || len(tc.options) > 0 {
					require.NotNil(t, opt, "OPT echoed")
					require.EqualValues(t, MaxUDPSize, opt.UDPSize())
				} else {
					require.Nil(t, opt)
				}
				for _, o := range tc.options {
					switch o := o.(type) {
					case *dns.EDNS0_SUBNET:
						got := findSubnet(t, r)
						require.Equal(t, o.Family, got.Family)
						require.Equal(t, o.SourceNetmask, got.SourceNetmask)
						require.True(t, o.Address.Equal(got.Address), "address echoed")
						require.EqualValues(t, tc.scope, got.SourceScope, "ECS scope")
					case *dns.EDNS0_NSID:
						var nsid *dns.EDNS0_NSID
						for _, ro := range opt.Option {
							if n, ok := ro.(*dns.EDNS0_NSID); ok {
								nsid = n
							}
						}
						require.NotNil(t, nsid)
						require.Equal(t, tc.nsid, nsid.Nsid)
					}
				}
			})
		}
	}
}

func findSubnet(t *testing.T, r *dns.Msg) *dns.EDNS0_SUBNET {
	t.Helper()
	opt := r.IsEdns0()
	require.NotNil(t, opt)
	for _, o := range opt.Option {
		if s, ok := o.(*dns.EDNS0_SUBNET); ok {
			return s
		}
	}
	t.Fatal("no client subnet option in the response")
	return nil
}

func TestTruncationThenTCP(t *testing.T) {
	addr, _ := startServer(t, testSnapshot(t))
	q := testCase{qname: "big.conformance.test.", qtype: dns.TypeTXT}

	udp := exchange(t, &dns.Client{Net: "udp", Timeout: 2 * time.Second}, addr, q)
	require.True(t, udp.Truncated, "answer larger than 512 bytes sets TC without EDNS")
	require.Less(t, len(udp.Answer), 6)

	tcp := exchange(t, &dns.Client{Net: "tcp", Timeout: 2 * time.Second}, addr, q)
	require.False(t, tcp.Truncated)
	require.Len(t, tcp.Answer, 6)

	q.edns = true
	big := exchange(t, &dns.Client{Net: "udp", Timeout: 2 * time.Second, UDPSize: 4096}, addr, q)
	require.False(t, big.Truncated, "EDNS size honoured")
	require.Len(t, big.Answer, 6)
}

func TestBadVersion(t *testing.T) {
	addr, _ := startServer(t, testSnapshot(t))
	m := new(dns.Msg)
	m.SetQuestion("static.conformance.test.", dns.TypeA)
	m.SetEdns0(4096, false)
	m.IsEdns0().SetVersion(1)
	for _, proto := range []string{"udp", "tcp"} {
		r, _, err := (&dns.Client{Net: proto}).Exchange(m, addr)
		require.NoError(t, err)
		require.Equal(t, dns.RcodeBadVers, r.Rcode)
		require.Empty(t, r.Answer)
		require.NotNil(t, r.IsEdns0())
		require.EqualValues(t, 0, r.IsEdns0().Version())
	}
}

// rawExchange sends bytes over UDP and returns the reply (nil on timeout).
func rawExchange(t *testing.T, addr string, packet []byte) *dns.Msg {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(packet)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(500*time.Millisecond)))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	r := new(dns.Msg)
	require.NoError(t, r.Unpack(buf[:n]))
	return r
}

// ecsQuery packs a query for www with a raw client subnet option body.
func ecsQuery(t *testing.T, body []byte) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.conformance.test.", dns.TypeA)
	m.SetEdns0(4096, false)
	m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: body}}
	b, err := m.Pack()
	require.NoError(t, err)
	return b
}

func TestMalformed(t *testing.T) {
	addr, _ := startServer(t, testSnapshot(t))
	twoQuestions := new(dns.Msg)
	twoQuestions.SetQuestion("static.conformance.test.", dns.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, dns.Question{Name: "www.conformance.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	twoQ, err := twoQuestions.Pack()
	require.NoError(t, err)
	noQuestion := new(dns.Msg)
	noQuestion.Id = 7
	noQ, err := noQuestion.Pack()
	require.NoError(t, err)

	cases := []struct {
		name   string
		packet []byte
		rcode  int // -1: no reply
	}{
		{"two questions", twoQ, dns.RcodeFormatError},
		{"no question", noQ, dns.RcodeFormatError},
		{"truncated question", twoQ[:20], dns.RcodeFormatError},
		{"ECS family 3", ecsQuery(t, []byte{0, 3, 24, 0, 198, 51, 100}), dns.RcodeFormatError},
		{"ECS IPv4 prefix 33", ecsQuery(t, []byte{0, 1, 33, 0, 198, 51, 100, 7, 1}), dns.RcodeFormatError},
		{"ECS bits past the prefix", ecsQuery(t, []byte{0, 1, 24, 0, 198, 51, 100, 7}), dns.RcodeFormatError},
		{"ECS well formed", ecsQuery(t, []byte{0, 1, 24, 0, 198, 51, 100}), dns.RcodeSuccess},
		{"header only garbage", []byte{0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 2, 3}, dns.RcodeFormatError},
		{"a response is never answered", append([]byte{0x12, 0x34, 0x81, 0x80}, twoQ[4:]...), -1},
		{"shorter than a header", []byte{1, 2, 3}, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rawExchange(t, addr, tc.packet)
			wire := RespondWire(testSnapshotOnce(t), tc.packet, netip.MustParseAddr("127.0.0.1"), false)
			if tc.rcode < 0 {
				require.Nil(t, r)
				require.Nil(t, wire)
				return
			}
			require.NotNil(t, r)
			require.Equal(t, dns.RcodeToString[tc.rcode], dns.RcodeToString[r.Rcode])
			require.True(t, r.Response)
			var w dns.Msg
			require.NoError(t, w.Unpack(wire))
			require.Equal(t, dns.RcodeToString[tc.rcode], dns.RcodeToString[w.Rcode], "RespondWire agrees with the server")
		})
	}
}

var cachedSnapshot *balancer.Snapshot

func testSnapshotOnce(t testing.TB) *balancer.Snapshot {
	if cachedSnapshot == nil {
		cachedSnapshot = balancer.NewStore(testSnapshot(t)).Load()
	}
	return cachedSnapshot
}

func TestAXFRRefused(t *testing.T) {
	addr, _ := startServer(t, testSnapshot(t))
	m := new(dns.Msg)
	m.SetAxfr("conformance.test.")
	r, _, err := (&dns.Client{Net: "tcp"}).Exchange(m, addr)
	require.NoError(t, err)
	require.Equal(t, dns.RcodeRefused, r.Rcode)
}

func TestHealthViewChangesAnswers(t *testing.T) {
	addr, store := startServer(t, testSnapshot(t))
	c := &dns.Client{Net: "udp"}
	q := testCase{qname: "www.conformance.test.", qtype: dns.TypeA}
	require.Equal(t, []string{"www.conformance.test.\t30\tIN\tA\t192.0.2.10"}, rrStrings(exchange(t, c, addr, q).Answer))
	store.Update(func(s *balancer.Snapshot) { s.Health = balancer.HealthView{"na": {Down: true, Reason: "test"}} })
	got := rrStrings(exchange(t, c, addr, q).Answer)
	require.Len(t, got, 1)
	require.False(t, strings.HasSuffix(got[0], "192.0.2.10"), "a down region leaves the answer: %v", got)
}
