package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

const (
	// batchSize is how many datagrams one system call reads or writes.
	batchSize = 64
	// maxQuerySize is the receive buffer per datagram: no sane query is
	// larger, and a larger one arrives cut and is answered FORMERR.
	maxQuerySize = 4096
)

// batchConn reads and writes datagrams many per system call (recvmmsg
// and sendmmsg on Linux).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// udpWorker serves one UDP socket. Every buffer is its own and reused, so
// a query answered from the cache allocates nothing here.
type udpWorker struct {
	s     *Server
	conn  *net.UDPConn
	local netip.AddrPort
	bc    batchConn
	in    []ipv4.Message
	out   []ipv4.Message
	// outBufs back the responses of one batch; a response built by the
	// full path brings its own.
	outBufs [batchSize][]byte
	q       wireQuery
}

func newUDPWorker(s *Server, conn *net.UDPConn) *udpWorker {
	w := &udpWorker{s: s, conn: conn, in: make([]ipv4.Message, batchSize), out: make([]ipv4.Message, batchSize)}
	w.local = addrPortOf(conn.LocalAddr())
	if conn.LocalAddr().(*net.UDPAddr).IP.To4() != nil {
		w.bc = ipv4.NewPacketConn(conn)
	} else {
		w.bc = ipv6.NewPacketConn(conn)
	}
	for i := range w.in {
		w.in[i].Buffers = [][]byte{make([]byte, maxQuerySize)}
		w.out[i].Buffers = make([][]byte, 1)
		w.outBufs[i] = make([]byte, 0, MaxUDPSize)
	}
	return w
}

// serve answers datagrams until the socket is closed.
func (w *udpWorker) serve() {
	for {
		n, err := w.bc.ReadBatch(w.in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			w.s.log.Debug().Err(err).Msg("udp read")
			continue
		}
		m := 0
		for i := range w.in[:n] {
			in := &w.in[i]
			src := addrPortOf(in.Addr)
			out := w.s.answerUDP(w, in.Buffers[0][:in.N], src, w.outBufs[m][:0])
			if out == nil {
				continue
			}
			w.out[m].Buffers[0] = out
			w.out[m].Addr = in.Addr
			m++
		}
		w.write(w.out[:m])
	}
}

// write sends a batch; a datagram the kernel refuses (an unreachable
// address, say) is skipped so that the rest still go out.
func (w *udpWorker) write(ms []ipv4.Message) {
	for len(ms) > 0 {
		n, err := w.bc.WriteBatch(ms, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			w.s.log.Debug().Err(err).Str("client", ms[0].Addr.String()).Msg("udp write")
			n = 1
		}
		ms = ms[n:]
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort()
	}
	return netip.AddrPort{}
}

// listenUDP binds n UDP sockets to addr with SO_REUSEPORT, so that the
// kernel spreads clients over them, one worker each. Port 0 picks a free
// port for all of them.
func listenUDP(addr string, n int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: reusePort}
	var conns []*net.UDPConn
	for range max(n, 1) {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, pc.(*net.UDPConn))
		addr = pc.LocalAddr().String()
	}
	return conns, nil
}

func reusePort(_, _ string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	if opErr != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", opErr)
	}
	return nil
}

func closeAll(conns []*net.UDPConn) {
	for _, c := range conns {
		c.Close()
	}
}

// listenBoth binds UDP and TCP on the same port: TCP without
// SO_REUSEPORT, so a second server on the same address fails here rather
// than sharing the UDP traffic. With port 0 the kernel picks the UDP port;
// TCP may find it taken, so it retries a few times.
func listenBoth(addr string, workers int) ([]*net.UDPConn, net.Listener, error) {
	var lastErr error
	for range 5 {
		conns, err := listenUDP(addr, workers)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", conns[0].LocalAddr().String())
		if err == nil {
			return conns, ln, nil
		}
		closeAll(conns)
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return nil, nil, lastErr
}

// udpGroup is the workers of one server and what waits for them.
type udpGroup struct {
	conns []*net.UDPConn
	wg    sync.WaitGroup
}

func (g *udpGroup) start(s *Server, conns []*net.UDPConn) {
	for _, c := range conns {
		g.conns = append(g.conns, c)
		w := newUDPWorker(s, c)
		g.wg.Go(w.serve)
	}
}

// stop closes the sockets and waits for the batches in hand, up to ctx's
// deadline.
func (g *udpGroup) stop(ctx context.Context) error {
	closeAll(g.conns)
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("udp workers: %w", ctx.Err())
	}
}
