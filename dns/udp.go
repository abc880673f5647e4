package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

const (
	// batchSize is how many datagrams one system call reads or writes.
	batchSize = 64
	// maxQuerySize is the receive buffer per datagram: no sane query is
	// larger, and a larger one arrives cut and is answered FORMERR.
	maxQuerySize = 4096
)

// datagram is one slot of a batch: its storage, the bytes in use and the
// peer it came from or goes to.
type datagram struct {
	buf  []byte
	n    int
	peer netip.AddrPort
}

// udpSocket is one UDP socket as a worker uses it (udp_linux.go,
// udp_other.go). read waits for at least one datagram, or returns an
// error that is temporary (EAGAIN, EINTR) or says the socket is closed;
// both return how many slots they used.
type udpSocket interface {
	read(in []datagram) (int, error)
	write(out []datagram) (int, error)
	local() netip.AddrPort
	Close() error
}

// udpWorker serves one UDP socket. Every buffer is its own and reused, so
// a query answered from the cache allocates nothing here.
type udpWorker struct {
	s    *Server
	sock udpSocket
	in   [batchSize]datagram
	out  [batchSize]datagram
	// outBufs back the responses of one batch; a response built by the
	// full path brings its own.
	outBufs [batchSize][]byte
	q       wireQuery
	// arrived is when the batch in hand was read: a query's handling
	// time runs from there, queueing behind its batch included, and the
	// clock is read once per batch rather than once per query.
	arrived time.Time
}

func newUDPWorker(s *Server, sock udpSocket) *udpWorker {
	w := &udpWorker{s: s, sock: sock}
	for i := range w.in {
		w.in[i].buf = make([]byte, maxQuerySize)
		w.outBufs[i] = make([]byte, 0, MaxUDPSize)
	}
	return w
}

// serve answers datagrams until the socket is closed.
func (w *udpWorker) serve() {
	for {
		n, err := w.sock.read(w.in[:])
		if err != nil {
			if closed(err) {
				return
			}
			if !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR) {
				w.s.log.Debug().Err(err).Msg("udp read")
			}
			// A read cut short is where the runtime gets this goroutine
			// back (see udp_linux.go).
			runtime.Gosched()
			continue
		}
		w.arrived = time.Now()
		m := 0
		for i := range w.in[:n] {
			in := &w.in[i]
			out := w.s.answerUDP(w, in.buf[:in.n], in.peer, w.outBufs[m][:0])
			if out == nil {
				continue
			}
			w.out[m].buf, w.out[m].peer = out, in.peer
			m++
		}
		w.write(w.out[:m])
	}
}

// write sends a batch; a datagram the kernel refuses (an unreachable
// address, say) is skipped so that the rest still go out.
func (w *udpWorker) write(ds []datagram) {
	for len(ds) > 0 {
		n, err := w.sock.write(ds)
		if err != nil {
			if closed(err) {
				return
			}
			w.s.log.Debug().Err(err).Str("client", ds[0].peer.String()).Msg("udp write")
			n = 1
		}
		ds = ds[n:]
	}
}

func closed(err error) bool { return errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) }

func closeAll(socks []udpSocket) {
	for _, s := range socks {
		s.Close()
	}
}

// listenBoth binds UDP (workers sockets) and TCP on the same port: TCP
// without SO_REUSEPORT, so a second server on the same address fails here
// rather than sharing the UDP traffic. With port 0 the kernel picks the
// UDP port; TCP may find it taken, so it retries a few times.
func listenBoth(addr string, workers int) ([]udpSocket, net.Listener, error) {
	var lastErr error
	for range 5 {
		socks, err := listenUDP(addr, workers)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", socks[0].local().String())
		if err == nil {
			return socks, ln, nil
		}
		closeAll(socks)
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return nil, nil, lastErr
}

// udpGroup is the workers of one server and what waits for them.
type udpGroup struct {
	socks []udpSocket
	wg    sync.WaitGroup
}

func (g *udpGroup) start(s *Server, socks []udpSocket) {
	for _, sock := range socks {
		g.socks = append(g.socks, sock)
		g.wg.Go(newUDPWorker(s, sock).serve)
	}
}

// stop closes the sockets and waits for the batches in hand, up to ctx's
// deadline.
func (g *udpGroup) stop(ctx context.Context) error {
	closeAll(g.socks)
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("udp workers: %w", ctx.Err())
	}
}
