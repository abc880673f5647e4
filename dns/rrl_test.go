package dns

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/balancer"
)

// testRRL is a limiter on a clock the test moves.
func testRRL(t testing.TB, cfg RRLConfig, log zerolog.Logger) (*RRL, *atomic.Int64) {
	t.Helper()
	l, err := NewRRL(cfg, log)
	require.NoError(t, err)
	require.NotNil(t, l)
	var clock atomic.Int64
	clock.Store(int64(time.Hour))
	l.now = clock.Load
	return l, &clock
}

func answerMsg(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response = true
	rr, _ := dns.NewRR(name + " 300 IN A 192.0.2.1")
	m.Answer = []dns.RR{rr}
	return m
}

func negativeMsg(name string, qtype uint16, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response = true
	m.Rcode = rcode
	soa, _ := dns.NewRR("conformance.test. 600 IN SOA ns1.conformance.test. h.conformance.test. 1 2 3 4 600")
	m.Ns = []dns.RR{soa}
	return m
}

var (
	srcA = netip.MustParseAddr("192.0.2.1")
	srcB = netip.MustParseAddr("192.0.2.200") // same /24 as srcA
	srcC = netip.MustParseAddr("198.51.100.1")
)

// allowed counts how many of n responses m to src are allowed.
func allowed(l *RRL, src netip.Addr, m *dns.Msg, n int) int {
	ok := 0
	for range n {
		if l.Check(src, m) == RRLAllow {
			ok++
		}
	}
	return ok
}

func TestRRLBucketMath(t *testing.T) {
	l, clock := testRRL(t, RRLConfig{Rate: 10, Burst: 5}, zerolog.Nop())
	m := answerMsg("static.conformance.test.", dns.TypeA)

	require.Equal(t, 5, allowed(l, srcA, m, 20), "a full bucket sends its burst")
	clock.Add(int64(100 * time.Millisecond))
	require.Equal(t, 1, allowed(l, srcA, m, 20), "one response per 1/rate")
	clock.Add(int64(350 * time.Millisecond))
	require.Equal(t, 3, allowed(l, srcA, m, 20), "partial refill")
	clock.Add(int64(time.Minute))
	require.Equal(t, 5, allowed(l, srcA, m, 20), "refill is capped at the burst")

	st := l.Stats()
	require.Equal(t, uint64(80-14), st.Limited)
	require.Equal(t, st.Limited, st.Slipped+st.Dropped)
}

func TestRRLBurstDefaultsToRate(t *testing.T) {
	l, _ := testRRL(t, RRLConfig{Rate: 7}, zerolog.Nop())
	require.Equal(t, 7, allowed(l, srcA, answerMsg("a.test.", dns.TypeA), 50))
}

func TestRRLSlip(t *testing.T) {
	m := answerMsg("static.conformance.test.", dns.TypeA)
	A, S, D := RRLAllow, RRLSlip, RRLDrop
	for slip, want := range [][]RRLAction{
		0: {A, A, D, D, D, D, D}, // 0: drop every one
		1: {A, A, S, S, S, S, S}, // 1: slip every one
		2: {A, A, D, S, D, S, D},
		3: {A, A, D, D, S, D, D},
	} {
		l, _ := testRRL(t, RRLConfig{Rate: 1, Burst: 2, Slip: slip}, zerolog.Nop())
		var got []RRLAction
		for range want {
			got = append(got, l.Check(srcA, m))
		}
		require.Equal(t, want, got, "slip %d", slip)
	}
}

func TestRRLKeys(t *testing.T) {
	l, _ := testRRL(t, RRLConfig{Rate: 1, Burst: 2}, zerolog.Nop())
	a := answerMsg("static.conformance.test.", dns.TypeA)
	require.Equal(t, 2, allowed(l, srcA, a, 5))
	require.Zero(t, allowed(l, srcB, a, 5), "same /24 shares the bucket")
	require.Zero(t, allowed(l, srcA, answerMsg("StAtIc.conformance.TEST.", dns.TypeA), 5), "names are case-insensitive")
	require.Equal(t, 2, allowed(l, srcC, a, 5), "another /24 has its own bucket")
	require.Equal(t, 2, allowed(l, srcA, answerMsg("other.conformance.test.", dns.TypeA), 5), "another name")
	require.Equal(t, 2, allowed(l, srcA, answerMsg("static.conformance.test.", dns.TypeAAAA), 5), "another type")
	require.Equal(t, 2, allowed(l, srcA, negativeMsg("static.conformance.test.", dns.TypeA, dns.RcodeSuccess), 5), "NODATA is its own class")

	// NXDOMAIN is keyed by zone: random names share one bucket.
	require.Equal(t, 2, allowed(l, srcA, negativeMsg("r1.conformance.test.", dns.TypeA, dns.RcodeNameError), 1)+
		allowed(l, srcA, negativeMsg("r2.conformance.test.", dns.TypeA, dns.RcodeNameError), 1)+
		allowed(l, srcA, negativeMsg("r3.conformance.test.", dns.TypeMX, dns.RcodeNameError), 3))

	// REFUSED is keyed by prefix alone.
	ref := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Rcode = dns.RcodeRefused
		return m
	}
	require.Equal(t, 2, allowed(l, srcA, ref("a.example."), 2)+allowed(l, srcA, ref("b.example."), 3))

	// Errors, including FORMERR without a question, have their own class.
	fe := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Rcode: dns.RcodeFormatError}}
	require.Equal(t, 2, allowed(l, srcA, fe, 5))

	// IPv6 clients are grouped by /56.
	v6a, v6b, v6c := netip.MustParseAddr("2001:db8:0:ff::1"), netip.MustParseAddr("2001:db8:0:1::2"), netip.MustParseAddr("2001:db8:0:100::1")
	require.Equal(t, 2, allowed(l, v6a, a, 5))
	require.Zero(t, allowed(l, v6b, a, 5))
	require.Equal(t, 2, allowed(l, v6c, a, 5))

	// IPv4-mapped addresses are IPv4.
	require.Zero(t, allowed(l, netip.MustParseAddr("::ffff:192.0.2.9"), a, 5))
}

func TestRRLPrefixLengths(t *testing.T) {
	l, _ := testRRL(t, RRLConfig{Rate: 1, Burst: 1, IPv4Prefix: 32, IPv6Prefix: 64}, zerolog.Nop())
	a := answerMsg("static.conformance.test.", dns.TypeA)
	require.Equal(t, 1, allowed(l, srcA, a, 3))
	require.Equal(t, 1, allowed(l, srcB, a, 3), "/32: every address its own")
	require.Equal(t, 1, allowed(l, netip.MustParseAddr("2001:db8::1"), a, 3))
	require.Zero(t, allowed(l, netip.MustParseAddr("2001:db8::2"), a, 3))
	require.Equal(t, 1, allowed(l, netip.MustParseAddr("2001:db8:0:1::1"), a, 3))
}

func TestRRLWhitelist(t *testing.T) {
	l, _ := testRRL(t, RRLConfig{Rate: 1, Burst: 1, Whitelist: []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("2001:db8::/32"),
	}}, zerolog.Nop())
	a := answerMsg("static.conformance.test.", dns.TypeA)
	require.Equal(t, 100, allowed(l, srcA, a, 100))
	require.Equal(t, 100, allowed(l, netip.MustParseAddr("::ffff:192.0.2.2"), a, 100))
	require.Equal(t, 100, allowed(l, netip.MustParseAddr("2001:db8:1::1"), a, 100))
	require.Equal(t, 1, allowed(l, srcB, a, 100), "192.0.2.200 is outside /25")
	require.Equal(t, uint64(99), l.Stats().Limited)
}

func TestRRLOff(t *testing.T) {
	l, err := NewRRL(RRLConfig{}, zerolog.Nop())
	require.NoError(t, err)
	require.Nil(t, l)
	require.Equal(t, 100, allowed(l, srcA, answerMsg("a.test.", dns.TypeA), 100))
	require.Equal(t, RRLStats{}, l.Stats())
}

func TestRRLConfigErrors(t *testing.T) {
	for _, cfg := range []RRLConfig{
		{Rate: -1}, {Rate: 1, Burst: -1}, {Rate: 1, Slip: -1}, {Rate: 1, Slip: 101},
		{Rate: 1, IPv4Prefix: 33}, {Rate: 1, IPv6Prefix: 129}, {Rate: 1, Whitelist: []netip.Prefix{{}}},
	} {
		_, err := NewRRL(cfg, zerolog.Nop())
		require.Error(t, err, "%+v", cfg)
	}
}

func TestRRLTableBounded(t *testing.T) {
	l, clock := testRRL(t, RRLConfig{Rate: 1, Burst: 1, Buckets: 1024}, zerolog.Nop())
	var total int
	for i := range l.shards {
		total += len(l.shards[i].buckets)
	}
	require.Equal(t, 1024, total)

	// A flood of more keys than buckets leaves the table its size, and
	// limiting still works.
	for i := range 20000 {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		l.Check(src, answerMsg("cold.test.", dns.TypeA))
		clock.Add(int64(time.Millisecond))
	}
	total = 0
	for i := range l.shards {
		total += len(l.shards[i].buckets)
	}
	require.Equal(t, 1024, total)
	require.Equal(t, 1, allowed(l, srcA, answerMsg("hot.test.", dns.TypeA), 3))
}

func TestRRLLogOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	l, clock := testRRL(t, RRLConfig{Rate: 1, Burst: 1, LogInterval: 10 * time.Second}, zerolog.New(&buf))
	a := answerMsg("static.conformance.test.", dns.TypeA)
	allowed(l, srcA, a, 50)
	allowed(l, srcA, answerMsg("other.test.", dns.TypeA), 50) // same prefix, other bucket
	require.Equal(t, 1, strings.Count(buf.String(), "\n"))
	require.Contains(t, buf.String(), `"level":"warn"`)
	require.Contains(t, buf.String(), `"prefix":"192.0.2.0/24"`)
	require.Contains(t, buf.String(), `"rate":1`)

	allowed(l, srcC, a, 50) // another prefix
	require.Equal(t, 2, strings.Count(buf.String(), "\n"))

	clock.Add(int64(5 * time.Second))
	allowed(l, srcA, a, 50)
	require.Equal(t, 2, strings.Count(buf.String(), "\n"))
	clock.Add(int64(6 * time.Second))
	allowed(l, srcA, a, 50)
	require.Equal(t, 3, strings.Count(buf.String(), "\n"))
}

// TestRRLLogEveryPrefix: many prefixes limited at once are each logged
// once per interval; none silences another (a 100-prefix burst fits the
// table's sets with overwhelming probability).
func TestRRLLogEveryPrefix(t *testing.T) {
	var buf bytes.Buffer
	l, clock := testRRL(t, RRLConfig{Rate: 1, Burst: 1, LogInterval: 10 * time.Second}, zerolog.New(&buf))
	a := answerMsg("static.conformance.test.", dns.TypeA)
	for round := 1; round <= 2; round++ {
		for i := range 100 {
			allowed(l, netip.AddrFrom4([4]byte{10, byte(i), 0, 1}), a, 5)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		require.Len(t, lines, 100*round)
		for i := range 100 {
			require.Equal(t, round, strings.Count(buf.String(), fmt.Sprintf(`"prefix":"10.%d.0.0/24"`, i)))
		}
		clock.Add(int64(11 * time.Second))
	}
}

// startRRLServer serves the test zones on 127.0.0.1 with limiter l.
func startRRLServer(t *testing.T, l *RRL) string {
	t.Helper()
	srv := NewServer(balancer.NewStore(testSnapshot(t)), zerolog.Nop())
	srv.SetRRL(l)
	require.Same(t, l, srv.RRL())
	return listen(t, srv, "127.0.0.1:0")
}

// blast sends n queries for name over one UDP socket from local (nil: any)
// without waiting, then reads the responses until none comes for a while.
// It returns the full answers and the slipped (TC, empty) ones.
func blast(t *testing.T, addr string, local net.Addr, name string, n int) (full, tc int) {
	t.Helper()
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	if local != nil {
		c.Dialer = &net.Dialer{LocalAddr: local, Timeout: time.Second}
	}
	conn, err := c.Dial(addr)
	require.NoError(t, err)
	defer conn.Close()
	for i := range n {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Id = uint16(i + 1)
		require.NoError(t, conn.WriteMsg(m))
	}
	for range n {
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		r, err := conn.ReadMsg()
		if err != nil {
			break
		}
		require.Len(t, r.Question, 1)
		require.True(t, strings.EqualFold(name, r.Question[0].Name))
		switch {
		case r.Truncated:
			require.Empty(t, r.Answer)
			require.Empty(t, r.Ns)
			tc++
		default:
			require.NotEmpty(t, r.Answer)
			full++
		}
	}
	return full, tc
}

func TestRRLServer(t *testing.T) {
	l, err := NewRRL(RRLConfig{Rate: 10, Burst: 10, Slip: 2}, zerolog.Nop())
	require.NoError(t, err)
	addr := startRRLServer(t, l)
	const name, n = "static.conformance.test.", 200

	start := time.Now()
	full, tc := blast(t, addr, nil, name, n)
	elapsed := time.Since(start)
	dropped := n - full - tc
	st := l.Stats()
	t.Logf("from 127.0.0.1: %d full, %d slipped, %d dropped in %v; stats %+v", full, tc, dropped, elapsed, st)
	require.GreaterOrEqual(t, full, 10)
	require.LessOrEqual(t, full, 10+int(elapsed.Seconds()*10)+1)
	require.Positive(t, tc)
	require.Positive(t, dropped)
	require.Equal(t, uint64(tc), st.Slipped)
	require.Equal(t, uint64(dropped), st.Dropped)
	require.Equal(t, st.Slipped+st.Dropped, st.Limited)

	// The first source is still over its limit...
	_, tc2 := blast(t, addr, nil, name, 40)
	require.Positive(t, tc2)

	// ...while a second /24 gets full answers.
	other := &dns.Client{Net: "udp", Timeout: time.Second,
		Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.0.1.1")}, Timeout: time.Second}}
	for range 5 {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, _, err := other.Exchange(m, addr)
		require.NoError(t, err)
		require.False(t, r.Truncated)
		require.NotEmpty(t, r.Answer)
	}

	// TCP from the limited source is never limited.
	tcp := &dns.Client{Net: "tcp", Timeout: time.Second}
	conn, err := tcp.Dial(addr)
	require.NoError(t, err)
	defer conn.Close()
	before := l.Stats()
	for range 30 {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, _, err := tcp.ExchangeWithConn(m, conn)
		require.NoError(t, err)
		require.False(t, r.Truncated)
		require.NotEmpty(t, r.Answer)
	}
	require.Equal(t, before, l.Stats())
}

func TestRRLServerWhitelist(t *testing.T) {
	l, err := NewRRL(RRLConfig{Rate: 1, Burst: 1, Whitelist: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/24")}}, zerolog.Nop())
	require.NoError(t, err)
	addr := startRRLServer(t, l)
	full, tc := blast(t, addr, nil, "static.conformance.test.", 50)
	require.Equal(t, 50, full)
	require.Zero(t, tc)
	require.Zero(t, l.Stats().Limited)
}

func TestRRLServerOff(t *testing.T) {
	addr := startRRLServer(t, nil)
	full, tc := blast(t, addr, nil, "static.conformance.test.", 50)
	require.Equal(t, 50, full)
	require.Zero(t, tc)
}

// BenchmarkRRL measures the limiter on the allowed path (one client, one
// name, a rate it never reaches), serially and from many goroutines with
// distinct prefixes, and the cost when off (a nil limiter).
func BenchmarkRRL(b *testing.B) {
	m := answerMsg("static.conformance.test.", dns.TypeA)
	l, err := NewRRL(RRLConfig{Rate: 1_000_000, Burst: 1_000_000}, zerolog.Nop())
	require.NoError(b, err)
	l.interval = 1 // 1e9 responses/s: never limited, whatever the machine
	b.Run("allowed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if l.Check(srcA, m) != RRLAllow {
				b.Fatal("limited")
			}
		}
	})
	b.Run("allowed-parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Uint32
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(1)
			src := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
			for pb.Next() {
				if l.Check(src, m) != RRLAllow {
					b.Error("limited")
					return
				}
			}
		})
	})
	b.Run("off", func(b *testing.B) {
		var off *RRL
		b.ReportAllocs()
		for b.Loop() {
			if off.Check(srcA, m) != RRLAllow {
				b.Fatal("limited")
			}
		}
	})
}
