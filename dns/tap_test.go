package dns

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/geodns/geodns/balancer"
)

// startTapServer serves the conformance zones on 127.0.0.1 with tap.
func startTapServer(t testing.TB, tap *Tap) (*Server, string) {
	t.Helper()
	srv := NewServer(balancer.NewStore(testSnapshot(t)), zerolog.Nop())
	srv.SetTap(tap)
	return srv, listen(t, srv, "127.0.0.1:0")
}

// finish stops srv, which waits for the queries in flight, and closes
// tap: every query answered has then been logged.
func finish(t testing.TB, srv *Server, tap *Tap) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	closeTap(t, tap)
}

// closeTap closes tap, failing the test unless it finishes within 5s.
func closeTap(t testing.TB, tap *Tap) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, tap.Close(ctx))
}

// syncBuffer is an io.Writer the test reads after the sink wrote to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// query packs a query as a resolver would send it (no RD, EDNS when an
// option is given).
func query(t testing.TB, name string, qtype uint16, options ...dns.EDNS0) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	if len(options) > 0 {
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = options
	}
	return m
}

// exchangeConn sends m over a connection of its own and returns the
// answer and the client's local address.
func exchangeConn(t *testing.T, network, addr string, m *dns.Msg) (*dns.Msg, netip.AddrPort) {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	conn, err := c.Dial(addr)
	require.NoError(t, err)
	defer conn.Close()
	r, _, err := c.ExchangeWithConn(m, conn)
	require.NoError(t, err)
	local, _ := addrPort(conn.LocalAddr())
	return r, local
}

func TestQueryLogJSON(t *testing.T) {
	out := new(syncBuffer)
	tap := NewTap(TapConfig{})
	tap.Add("querylog", NewQueryLog(out, 4096))
	srv, addr := startTapServer(t, tap)

	cases := []struct {
		name    string
		network string
		q       *dns.Msg
		want    map[string]any // fields and values; nil value: field absent
		why     string         // substring of why
	}{
		{"static A", "udp", query(t, "static.conformance.test.", dns.TypeA),
			map[string]any{"type": "A", "rcode": "NOERROR", "tcp": false, "ecs": nil, "region": nil, "why": nil}, ""},
		{"geo from the client address", "udp", query(t, "www.conformance.test.", dns.TypeA),
			map[string]any{"type": "A", "rcode": "NOERROR", "ecs": nil, "region": "na"}, "strategy geo chose [na] by rule continent"},
		{"geo by ECS", "udp", query(t, "WWW.conformance.test.", dns.TypeA, ecs("198.51.100.0/24")),
			map[string]any{"type": "A", "rcode": "NOERROR", "ecs": "198.51.100.0/24", "region": "eu"}, "rule continent; ECS scope /24"},
		{"geo by network override over TCP", "tcp", query(t, "www.conformance.test.", dns.TypeAAAA, ecs("192.0.2.128/26")),
			map[string]any{"type": "AAAA", "rcode": "NOERROR", "tcp": true, "ecs": "192.0.2.128/26", "region": "eu"}, "by rule nets (192.0.2.128/25)"},
		{"NXDOMAIN", "udp", query(t, "nope.conformance.test.", dns.TypeMX),
			map[string]any{"type": "MX", "rcode": "NXDOMAIN", "region": nil}, ""},
		{"REFUSED", "udp", query(t, "example.org.", dns.TypeTXT),
			map[string]any{"type": "TXT", "rcode": "REFUSED"}, ""},
		{"unknown type", "udp", query(t, "static.conformance.test.", 65280),
			map[string]any{"type": "TYPE65280", "rcode": "NOERROR"}, ""},
	}
	ports := map[string]uint16{}
	for _, tc := range cases {
		r, local := exchangeConn(t, tc.network, addr, tc.q)
		require.True(t, r.Response, tc.name)
		ports[tc.q.Question[0].Name+"/"+dns.TypeToString[tc.q.Question[0].Qtype]] = local.Port()
	}
	finish(t, srv, tap)

	lines := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		lines[line["name"].(string)+"/"+line["type"].(string)] = line
	}
	require.Len(t, lines, len(cases), out.String())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.q.Question[0].Name + "/" + typeName(tc.q.Question[0].Qtype)
			line, ok := lines[key]
			require.True(t, ok, "no line for %s in\n%s", key, out.String())
			require.Equal(t, "127.0.0.1", line["client"])
			require.EqualValues(t, ports[tc.q.Question[0].Name+"/"+dns.TypeToString[tc.q.Question[0].Qtype]], line["client_port"])
			require.Equal(t, tc.network == "tcp", line["tcp"])
			for k, v := range tc.want {
				if v == nil {
					require.NotContains(t, line, k)
					continue
				}
				require.Equal(t, v, line[k], k)
			}
			if tc.why != "" {
				require.Contains(t, line["why"], tc.why)
			}
			ts, err := time.Parse(time.RFC3339Nano, line["time"].(string))
			require.NoError(t, err)
			require.WithinDuration(t, time.Now(), ts, time.Minute)
			require.Greater(t, line["duration_us"], 0.0)
			require.Greater(t, line["response_size"], 0.0)
			require.NotContains(t, line, "level")
			require.NotContains(t, line, "message")
		})
	}
	st := tap.Stats()
	require.Equal(t, []TapStats{{Sink: "querylog", Written: uint64(len(cases))}}, st)
}

// readDnstapFile reads every dnstap message of a Frame Streams file.
func readDnstapFile(t *testing.T, path string) []*dnstap.Dnstap {
	t.Helper()
	in, err := dnstap.NewFrameStreamInputFromFilename(path)
	require.NoError(t, err)
	frames := make(chan []byte, 1024)
	go func() {
		in.ReadInto(frames)
		close(frames)
	}()
	var msgs []*dnstap.Dnstap
	for f := range frames {
		m := new(dnstap.Dnstap)
		require.NoError(t, proto.Unmarshal(f, m))
		msgs = append(msgs, m)
	}
	return msgs
}

// rawExchangeTCP sends packet over TCP and returns the response's bytes.
func rawExchangeTCP(t *testing.T, addr string, packet []byte) ([]byte, netip.AddrPort) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(2*time.Second)))
	_, err = conn.Write(binary.BigEndian.AppendUint16(nil, uint16(len(packet))))
	require.NoError(t, err)
	_, err = conn.Write(packet)
	require.NoError(t, err)
	var n [2]byte
	_, err = io.ReadFull(conn, n[:])
	require.NoError(t, err)
	resp := make([]byte, binary.BigEndian.Uint16(n[:]))
	_, err = io.ReadFull(conn, resp)
	require.NoError(t, err)
	local, _ := addrPort(conn.LocalAddr())
	return resp, local
}

// rawExchangeUDP sends packet over UDP and returns the response's bytes.
func rawExchangeUDP(t *testing.T, addr string, packet []byte) ([]byte, netip.AddrPort) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(2*time.Second)))
	_, err = conn.Write(packet)
	require.NoError(t, err)
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	require.NoError(t, err)
	local, _ := addrPort(conn.LocalAddr())
	return buf[:n], local
}

// sentQuery is one query as the client sent it and the response it got.
type sentQuery struct {
	tcp             bool
	query, response []byte
	client          netip.AddrPort
}

// sendRaw sends a mix of queries over UDP and TCP and keeps their bytes.
func sendRaw(t *testing.T, addr string) []sentQuery {
	t.Helper()
	var sent []sentQuery
	for i, q := range []*dns.Msg{
		query(t, "static.conformance.test.", dns.TypeA),
		query(t, "www.conformance.test.", dns.TypeA, ecs("198.51.100.0/24")),
		query(t, "nope.conformance.test.", dns.TypeAAAA),
		query(t, "big.conformance.test.", dns.TypeTXT),
	} {
		for _, tcp := range []bool{false, true} {
			q.Id = uint16(1000 + 2*i)
			if tcp {
				q.Id++
			}
			wire, err := q.Pack()
			require.NoError(t, err)
			s := sentQuery{tcp: tcp, query: wire}
			if tcp {
				s.response, s.client = rawExchangeTCP(t, addr, wire)
			} else {
				s.response, s.client = rawExchangeUDP(t, addr, wire)
			}
			sent = append(sent, s)
		}
	}
	return sent
}

// requireDnstap checks that msgs are the AUTH_QUERY and AUTH_RESPONSE
// messages of sent, with the server at addr.
func requireDnstap(t *testing.T, msgs []*dnstap.Dnstap, sent []sentQuery, addr string) {
	t.Helper()
	require.Len(t, msgs, 2*len(sent))
	server := netip.MustParseAddrPort(addr)
	type key struct {
		typ    dnstap.Message_Type
		tcp    bool
		client netip.AddrPort
	}
	byKey := map[key]*dnstap.Message{}
	for _, d := range msgs {
		require.Equal(t, dnstap.Dnstap_MESSAGE, d.GetType())
		require.Equal(t, "node-a", string(d.GetIdentity()))
		require.Equal(t, "geodns test", string(d.GetVersion()))
		m := d.GetMessage()
		require.NotNil(t, m)
		require.Equal(t, dnstap.SocketFamily_INET, m.GetSocketFamily())
		qa, ok := netip.AddrFromSlice(m.GetQueryAddress())
		require.True(t, ok)
		k := key{m.GetType(), m.GetSocketProtocol() == dnstap.SocketProtocol_TCP, netip.AddrPortFrom(qa, uint16(m.GetQueryPort()))}
		require.NotContains(t, byKey, k, "two messages for %v", k)
		byKey[k] = m
		ra, ok := netip.AddrFromSlice(m.GetResponseAddress())
		require.True(t, ok)
		require.Equal(t, server, netip.AddrPortFrom(ra, uint16(m.GetResponsePort())))
		qt := time.Unix(int64(m.GetQueryTimeSec()), int64(m.GetQueryTimeNsec()))
		require.WithinDuration(t, time.Now(), qt, time.Minute)
	}
	for _, s := range sent {
		q := byKey[key{dnstap.Message_AUTH_QUERY, s.tcp, s.client}]
		require.NotNil(t, q, "no AUTH_QUERY for %v tcp=%v", s.client, s.tcp)
		require.Equal(t, s.query, q.GetQueryMessage(), "query as the client sent it")
		require.Nil(t, q.ResponseMessage)
		r := byKey[key{dnstap.Message_AUTH_RESPONSE, s.tcp, s.client}]
		require.NotNil(t, r, "no AUTH_RESPONSE for %v tcp=%v", s.client, s.tcp)
		require.Equal(t, s.response, r.GetResponseMessage(), "response as the client got it")
		require.Nil(t, r.QueryMessage)
		qt := time.Unix(int64(r.GetQueryTimeSec()), int64(r.GetQueryTimeNsec()))
		rt := time.Unix(int64(r.GetResponseTimeSec()), int64(r.GetResponseTimeNsec()))
		require.Equal(t, time.Unix(int64(q.GetQueryTimeSec()), int64(q.GetQueryTimeNsec())), qt)
		require.False(t, rt.Before(qt), "response time %v before query time %v", rt, qt)
	}
}

func TestDnstapFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queries.dnstap")
	d, err := OpenDnstap("file:"+path, "node-a", "geodns test", zerolog.Nop())
	require.NoError(t, err)
	tap := NewTap(TapConfig{})
	tap.Add("dnstap", d)
	srv, addr := startTapServer(t, tap)

	sent := sendRaw(t, addr)
	finish(t, srv, tap)
	requireDnstap(t, readDnstapFile(t, path), sent, addr)
	require.Equal(t, []TapStats{{Sink: "dnstap", Written: uint64(len(sent))}}, tap.Stats())
}

func TestOpenDnstapTargets(t *testing.T) {
	for _, target := range []string{"", "unix:", "file:", "tcp:127.0.0.1:6000", "/tmp/x.sock"} {
		_, err := OpenDnstap(target, "n", "v", zerolog.Nop())
		require.Error(t, err, target)
	}
	_, err := OpenDnstap("file:"+filepath.Join(t.TempDir(), "missing", "x.dnstap"), "n", "v", zerolog.Nop())
	require.Error(t, err)
}

// collector is a dnstap collector on a unix socket: each connection is
// read with the library's bidirectional Frame Streams input.
type collector struct {
	ln     net.Listener
	frames chan []byte
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

// newCollector listens on path. golang-dnstap's FrameStreamSockInput is
// not used: its accept loop never ends, and spins once the listener is
// closed.
func newCollector(t *testing.T, path string, read bool) *collector {
	t.Helper()
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	c := &collector{ln: ln, frames: make(chan []byte, 4096)}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns = append(c.conns, conn)
			c.mu.Unlock()
			if !read {
				continue // a collector that hangs: accepts, never reads
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				in, err := dnstap.NewFrameStreamInputTimeout(conn, true, 5*time.Second)
				if err != nil {
					return
				}
				in.ReadInto(c.frames)
			}()
		}
	}()
	t.Cleanup(c.close)
	return c
}

// close stops listening and drops every connection.
func (c *collector) close() {
	c.ln.Close()
	c.mu.Lock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
	c.mu.Unlock()
	c.wg.Wait()
}

// next waits for n frames.
func (c *collector) next(t *testing.T, n int, timeout time.Duration) []*dnstap.Dnstap {
	t.Helper()
	var msgs []*dnstap.Dnstap
	deadline := time.After(timeout)
	for len(msgs) < n {
		select {
		case f := <-c.frames:
			m := new(dnstap.Dnstap)
			require.NoError(t, proto.Unmarshal(f, m))
			msgs = append(msgs, m)
		case <-deadline:
			t.Fatalf("%d dnstap frames of %d within %v", len(msgs), n, timeout)
		}
	}
	return msgs
}

// socketPath is a unix socket path short enough for sun_path (108 bytes).
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tap")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "dnstap.sock")
}

func TestDnstapUnixSocket(t *testing.T) {
	path := socketPath(t)
	col := newCollector(t, path, true)
	d, err := OpenDnstap("unix:"+path, "node-a", "geodns test", zerolog.Nop())
	require.NoError(t, err)
	tap := NewTap(TapConfig{})
	tap.Add("dnstap", d)
	_, addr := startTapServer(t, tap)

	sent := sendRaw(t, addr)
	requireDnstap(t, col.next(t, 2*len(sent), 5*time.Second), sent, addr)

	t.Run("reconnects after the collector restarts", func(t *testing.T) {
		col.close()
		os.Remove(path)
		col2 := newCollector(t, path, true)
		// Frames written into the broken connection are lost until the
		// writer notices (at its next flush) and reconnects.
		deadline := time.Now().Add(15 * time.Second)
		for {
			r, _ := exchangeConn(t, "udp", addr, query(t, "static.conformance.test.", dns.TypeA))
			require.Equal(t, dns.RcodeSuccess, r.Rcode)
			select {
			case f := <-col2.frames:
				m := new(dnstap.Dnstap)
				require.NoError(t, proto.Unmarshal(f, m))
				require.Equal(t, "node-a", string(m.GetIdentity()))
				closeTap(t, tap)
				return
			case <-time.After(200 * time.Millisecond):
			}
			require.True(t, time.Now().Before(deadline), "no frame at the restarted collector")
		}
	})
}

// blockingWriter is a TapWriter whose writes wait until it is released.
type blockingWriter struct {
	release chan struct{}
	n       int
}

func (w *blockingWriter) Write(*Event) error { <-w.release; w.n++; return nil }
func (w *blockingWriter) Flush() error       { return nil }
func (w *blockingWriter) Close() error       { return nil }

func TestTapBlockedSink(t *testing.T) {
	const buffer, queries = 8, 100
	t.Run("a writer that blocks", func(t *testing.T) {
		w := &blockingWriter{release: make(chan struct{})}
		tap := NewTap(TapConfig{Buffer: buffer})
		tap.Add("querylog", w)
		_, addr := startTapServer(t, tap)
		start := time.Now()
		for range queries {
			r, _ := exchangeConn(t, "udp", addr, query(t, "static.conformance.test.", dns.TypeA))
			require.Equal(t, dns.RcodeSuccess, r.Rcode)
		}
		took := time.Since(start)
		require.Less(t, took, 5*time.Second, "queries waited for the query log")
		st := tap.Stats()[0]
		// The writer holds one event, the buffer the next ones.
		require.GreaterOrEqual(t, st.Dropped, uint64(queries-buffer-1))
		require.Zero(t, st.Written)

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, tap.Close(ctx), context.DeadlineExceeded)
		close(w.release)
		closeTap(t, tap) // a second Close is a no-op
	})

	t.Run("a dnstap collector that never reads", func(t *testing.T) {
		path := socketPath(t)
		newCollector(t, path, false)
		d, err := OpenDnstap("unix:"+path, "node-a", "geodns test", zerolog.Nop())
		require.NoError(t, err)
		tap := NewTap(TapConfig{Buffer: buffer})
		tap.Add("dnstap", d)
		_, addr := startTapServer(t, tap)
		start := time.Now()
		for range queries {
			r, _ := exchangeConn(t, "udp", addr, query(t, "static.conformance.test.", dns.TypeA))
			require.Equal(t, dns.RcodeSuccess, r.Rcode)
		}
		require.Less(t, time.Since(start), 5*time.Second, "queries waited for the collector")
		require.GreaterOrEqual(t, tap.Stats()[0].Dropped, uint64(queries-buffer-1))

		// The sink is stuck in the handshake (or has given up on it):
		// Close returns at its deadline either way.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start = time.Now()
		tap.Close(ctx)
		require.Less(t, time.Since(start), time.Second, "Close kept waiting for the collector")
	})
}

// countingWriter counts what it is given.
type countingWriter struct {
	mu sync.Mutex
	n  int
}

func (w *countingWriter) Write(*Event) error { w.mu.Lock(); w.n++; w.mu.Unlock(); return nil }
func (w *countingWriter) Flush() error       { return nil }
func (w *countingWriter) Close() error       { return nil }

func TestTapSampling(t *testing.T) {
	const queries = 60
	for _, tc := range []struct{ sample, want int }{{0, queries}, {1, queries}, {5, 12}, {7, 8}, {100, 0}} {
		t.Run("1 in "+strconv.Itoa(tc.sample), func(t *testing.T) {
			w := &countingWriter{}
			tap := NewTap(TapConfig{Sample: tc.sample})
			tap.Add("querylog", w)
			srv, addr := startTapServer(t, tap)
			for range queries {
				exchangeConn(t, "udp", addr, query(t, "static.conformance.test.", dns.TypeA))
			}
			finish(t, srv, tap)
			require.Equal(t, uint64(tc.want), tap.Stats()[0].Written)
			require.Equal(t, tc.want, w.n)
			require.Zero(t, tap.Stats()[0].Dropped)
		})
	}
}

// eventLog keeps copies of the events it is given.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (w *eventLog) Write(ev *Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, Event{
		Time: ev.Time, Client: ev.Client, Server: ev.Server, TCP: ev.TCP,
		Query: bytes.Clone(ev.Query), Response: bytes.Clone(ev.Response),
		Name: ev.Name, Qtype: ev.Qtype, Rcode: ev.Rcode, ECS: ev.ECS, Region: ev.Region, Why: ev.Explain(), Duration: ev.Duration,
	})
	return nil
}
func (w *eventLog) Flush() error { return nil }
func (w *eventLog) Close() error { return nil }

func TestTapRateLimited(t *testing.T) {
	// One response a second, every second limited one slipped: the log
	// has the answer, then nothing sent and slipped (TC) ones in turn.
	rrl, err := NewRRL(RRLConfig{Rate: 1, Burst: 1, Slip: 2}, zerolog.Nop())
	require.NoError(t, err)
	w := &eventLog{}
	tap := NewTap(TapConfig{})
	tap.Add("querylog", w)
	srv, addr := startTapServer(t, tap)
	srv.SetRRL(rrl)
	q := query(t, "static.conformance.test.", dns.TypeA)
	wire, err := q.Pack()
	require.NoError(t, err)
	conn, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer conn.Close()
	buf := make([]byte, 512)
	for range 6 {
		_, err := conn.Write(wire)
		require.NoError(t, err)
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		conn.Read(buf) // times out when the response is dropped
	}
	finish(t, srv, tap)
	require.Len(t, w.events, 6)
	var full, dropped, slipped int
	for _, ev := range w.events {
		require.Equal(t, wire, ev.Query)
		require.Equal(t, dns.RcodeSuccess, ev.Rcode)
		require.Equal(t, "static.conformance.test.", ev.Name)
		switch {
		case ev.Response == nil:
			dropped++
		default:
			var m dns.Msg
			require.NoError(t, m.Unpack(ev.Response))
			if m.Truncated {
				require.Empty(t, m.Answer)
				slipped++
			} else {
				require.Len(t, m.Answer, 1)
				full++
			}
		}
	}
	require.Positive(t, full) // the first; another if the test took over a second
	require.Positive(t, dropped)
	require.Positive(t, slipped)
}

func TestEventPoolReuse(t *testing.T) {
	// Two sinks share each event; it goes back to the pool once both are
	// done with it, and comes back empty but with its buffers.
	a, b := &eventLog{}, &eventLog{}
	tap := NewTap(TapConfig{})
	tap.Add("a", a)
	tap.Add("b", b)
	for i := range 100 {
		ev := tap.NewEvent()
		require.Nil(t, ev.Response)
		require.Empty(t, ev.Query)
		require.Empty(t, ev.Name)
		ev.SetQuery([]byte{byte(i), 1, 2, 3})
		if i%2 == 0 {
			ev.SetResponse([]byte{byte(i), 4, 5})
		}
		ev.Name = "n"
		tap.Emit(ev)
	}
	closeTap(t, tap)
	for _, w := range []*eventLog{a, b} {
		require.Len(t, w.events, 100)
		for i, ev := range w.events {
			require.Equal(t, []byte{byte(i), 1, 2, 3}, ev.Query)
			if i%2 == 0 {
				require.Equal(t, []byte{byte(i), 4, 5}, ev.Response)
			} else {
				require.Nil(t, ev.Response)
			}
		}
	}
	// After Close events are not taken (and not counted).
	ev := tap.NewEvent()
	tap.Emit(ev)
	require.Equal(t, uint64(100), tap.Stats()[0].Written)
	require.Zero(t, tap.Stats()[0].Dropped)
	var nilTap *Tap
	require.False(t, nilTap.Sampled())
	require.Nil(t, nilTap.Stats())
	require.NoError(t, nilTap.Close(context.Background()))
}

// discardWriter is a TapWriter that writes nothing: what the query path
// pays for a logged query, without a real output's work.
type discardWriter struct{}

func (discardWriter) Write(*Event) error { return nil }
func (discardWriter) Flush() error       { return nil }
func (discardWriter) Close() error       { return nil }

// BenchmarkHandleTap measures Server.handle without the network: no tap,
// a tap whose sample misses, and every query logged: to an output that
// does nothing (what the query path itself pays), to JSON in io.Discard,
// to a dnstap file, and to both. Outputs write on their own goroutines,
// whose allocations count too.
func BenchmarkHandleTap(b *testing.B) {
	w := fakeWriter{addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
	m := new(dns.Msg)
	m.SetQuestion("www.conformance.test.", dns.TypeA)
	dnstapFile := filepath.Join(b.TempDir(), "bench.dnstap")
	for _, c := range []struct {
		name string
		tap  func() *Tap
	}{
		{"off", func() *Tap { return nil }},
		{"sample-miss", func() *Tap { return benchTap(b, 1<<62, "querylog", dnstapFile) }},
		{"discard", func() *Tap { t := NewTap(TapConfig{}); t.Add("discard", discardWriter{}); return t }},
		{"querylog", func() *Tap { return benchTap(b, 1, "querylog", "") }},
		{"dnstap", func() *Tap { return benchTap(b, 1, "", dnstapFile) }},
		{"both", func() *Tap { return benchTap(b, 1, "querylog", dnstapFile) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := NewServer(balancer.NewStore(testSnapshot(b)), zerolog.Nop())
			tap := c.tap()
			s.SetTap(tap)
			b.ReportAllocs()
			for b.Loop() {
				s.handle(w, m)
			}
			b.StopTimer()
			if tap != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				tap.Close(ctx)
				cancel()
				for _, st := range tap.Stats() {
					b.ReportMetric(float64(st.Dropped)/float64(b.N), st.Sink+"-dropped/op")
				}
			}
		})
	}
}

func benchTap(b *testing.B, sample int, querylog, dnstapFile string) *Tap {
	tap := NewTap(TapConfig{Sample: sample})
	if querylog != "" {
		tap.Add("querylog", NewQueryLog(io.Discard, queryLogFileBatch))
	}
	if dnstapFile != "" {
		d, err := OpenDnstap("file:"+dnstapFile, "bench", "geodns bench", zerolog.Nop())
		require.NoError(b, err)
		tap.Add("dnstap", d)
	}
	return tap
}

// BenchmarkTapQuery measures the hook alone, as handle calls it after a
// geo answer: Sampled on a nil tap, a sample miss, and a logged query
// (packing the query and response, describing, emitting to an output
// that does nothing).
func BenchmarkTapQuery(b *testing.B) {
	s := NewServer(balancer.NewStore(testSnapshot(b)), zerolog.Nop())
	w := fakeWriter{addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
	req := query(b, "www.conformance.test.", dns.TypeA, ecs("198.51.100.0/24"))
	res := Respond(s.store.Load(), req, netip.MustParseAddr("127.0.0.1"), false)
	start := time.Now()
	for _, c := range []struct {
		name string
		tap  *Tap
	}{
		{"nil", nil},
		{"sample-miss", NewTap(TapConfig{Sample: 1 << 62})},
		{"logged", NewTap(TapConfig{})},
	} {
		if c.tap != nil {
			c.tap.Add("discard", discardWriter{})
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if t := c.tap; t.Sampled() {
					s.tapQuery(t, w, req, &res, res.Msg, start, time.Microsecond)
				}
			}
			b.StopTimer()
			closeTap(b, c.tap)
		})
	}
}
