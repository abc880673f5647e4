package dns

import (
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/balancer"
)

// TestUDPWorkers serves one address with several SO_REUSEPORT sockets:
// clients on many source ports all get answers, and shutdown ends every
// worker.
func TestUDPWorkers(t *testing.T) {
	srv := NewServer(balancer.NewStore(testSnapshot(t)), zerolog.Nop())
	srv.UDPWorkers = 4
	require.NoError(t, srv.Listen("127.0.0.1:0"))
	addr := srv.Addrs()[0]
	require.Len(t, srv.udp.socks, 4)

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			for range 20 {
				r := exchange(t, c, addr, testCase{qname: "static.conformance.test.", qtype: dns.TypeA})
				require.Equal(t, []string{"static.conformance.test.\t300\tIN\tA\t192.0.2.1"}, rrStrings(r.Answer))
			}
		})
	}
	wg.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("static.conformance.test.", dns.TypeA)
	_, _, err := c.Exchange(m, addr)
	require.Error(t, err, "no answer after shutdown")
}

// TestSecondServerRefused: SO_REUSEPORT must not let a second server
// share the port; its TCP bind fails and it gives up its UDP sockets.
func TestSecondServerRefused(t *testing.T) {
	addr, _ := startServer(t, testSnapshot(t))
	second := NewServer(balancer.NewStore(testSnapshot(t)), zerolog.Nop())
	err := second.Listen(addr)
	require.ErrorContains(t, err, "address already in use")

	// Every query still reaches the first server.
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	for range 20 {
		exchange(t, c, addr, testCase{qname: "static.conformance.test.", qtype: dns.TypeA})
	}
}

// TestUDPOversizedQuery: a datagram larger than the receive buffer
// arrives cut and is answered FORMERR, never dropped silently.
func TestUDPOversizedQuery(t *testing.T) {
	addr, _ := startServer(t, testSnapshot(t))
	m := new(dns.Msg)
	m.SetQuestion("static.conformance.test.", dns.TypeTXT)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_PADDING{Padding: make([]byte, maxQuerySize)})
	wire, err := m.Pack()
	require.NoError(t, err)
	conn, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(wire)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(2*time.Second)))
	buf := make([]byte, 2048)
	n, err := conn.Read(buf)
	require.NoError(t, err)
	r := new(dns.Msg)
	require.NoError(t, r.Unpack(buf[:n]))
	require.Equal(t, m.Id, r.Id)
	require.Equal(t, dns.RcodeFormatError, r.Rcode)
}

// TestUDPWorkersLeaveRuntimeRunning: workers waiting inside recvmmsg keep
// their P (udp_linux.go); garbage collection, which stops every
// goroutine, and the rest of the process must still run, idle or busy.
func TestUDPWorkersLeaveRuntimeRunning(t *testing.T) {
	srv := NewServer(balancer.NewStore(testSnapshot(t)), zerolog.Nop())
	srv.UDPWorkers = 2
	addr := listen(t, srv, "127.0.0.1:0")

	gcRounds := func(n int) {
		done := make(chan struct{})
		go func() {
			for range n {
				runtime.GC()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("garbage collection stuck behind the UDP workers")
		}
	}
	gcRounds(20) // idle workers

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
				exchange(t, c, addr, testCase{qname: "www.conformance.test.", qtype: dns.TypeA})
			}
		}
	})
	gcRounds(20) // busy workers
	close(stop)
	wg.Wait()
}

// TestUDPAddressFamilies: IPv6 sockets read and answer IPv6 peers, and a
// wildcard IPv6 socket answers IPv4 clients as well (dual stack).
func TestUDPAddressFamilies(t *testing.T) {
	for _, c := range []struct{ listen, dial string }{
		{"[::1]:0", "[::1]"},
		{"[::]:0", "127.0.0.1"},
		{"127.0.0.1:0", "127.0.0.1"},
	} {
		t.Run(c.listen+"/"+c.dial, func(t *testing.T) {
			srv := NewServer(balancer.NewStore(testSnapshot(t)), zerolog.Nop())
			if err := srv.Listen(c.listen); err != nil {
				t.Skipf("no %s here: %v", c.listen, err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
			})
			_, port, err := net.SplitHostPort(srv.Addrs()[0])
			require.NoError(t, err)
			addr := net.JoinHostPort(strings.Trim(c.dial, "[]"), port)
			r := exchange(t, &dns.Client{Net: "udp", Timeout: 2 * time.Second}, addr,
				testCase{qname: "static.conformance.test.", qtype: dns.TypeA})
			require.Equal(t, []string{"static.conformance.test.\t300\tIN\tA\t192.0.2.1"}, rrStrings(r.Answer))
		})
	}
}
