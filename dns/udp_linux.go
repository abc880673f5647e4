package dns

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgSocket is a UDP socket in blocking mode, read and written a batch
// per system call with recvmmsg and sendmmsg, outside Go's network poller.
//
// Why not the poller (net.UDPConn, or golang.org/x/net's ReadBatch, which
// does the same system calls): profiles under dnsperf showed the poller's
// way of waiting for an empty socket costing more than answering. Every
// wait was a failed recvmmsg, an epoll_pwait, futex wake-ups of runtime
// threads and the runtime's monitor thread polling every 20 µs while the
// server alternates between busy and idle: three times the context
// switches of Knot at the same load, and 13% more CPU per query than this
// socket, which waits inside recvmmsg as the C servers do.
//
// The calls are raw (RawSyscall6): the runtime does not hand the worker's
// P to another thread while recvmmsg blocks. The server therefore runs
// with a P more than it has UDP workers (Server.Listen sees to it), so
// everything else keeps running. The goroutine returns to the scheduler
// whenever a read is cut short: a receive timeout (closeCheck) and the
// runtime's preemption signal both interrupt a blocked recvmmsg (socket
// calls with SO_RCVTIMEO are not restarted after a signal), so garbage
// collection and Close never wait on an idle worker for long. The socket
// is an os.File, so Close while a call is in progress closes the
// descriptor only once the call has returned.
type mmsgSocket struct {
	f       *os.File
	rc      syscall.RawConn
	addr    netip.AddrPort
	ip4     bool // sockaddr_in, else sockaddr_in6
	closing atomic.Bool

	rhdrs  [batchSize]unix.Mmsghdr
	riovs  [batchSize]unix.Iovec
	rnames [batchSize]unix.RawSockaddrInet6
	whdrs  [batchSize]unix.Mmsghdr
	wiovs  [batchSize]unix.Iovec
	wnames [batchSize]unix.RawSockaddrInet6
}

// closeCheck bounds how long a read blocks before its goroutine yields
// and looks whether the socket was closed.
const closeCheck = 100e3 // µs

// listenUDP binds n sockets to addr with SO_REUSEPORT, so that the kernel
// spreads clients over them. Port 0 picks a free port for all of them.
func listenUDP(addr string, n int) ([]udpSocket, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	var socks []udpSocket
	for range max(n, 1) {
		s, err := openMmsgSocket(ua)
		if err != nil {
			closeAll(socks)
			return nil, fmt.Errorf("udp %s: %w", addr, err)
		}
		socks = append(socks, s)
		ua.Port = int(s.addr.Port())
	}
	return socks, nil
}

func openMmsgSocket(ua *net.UDPAddr) (*mmsgSocket, error) {
	ip4 := ua.IP.To4() != nil
	family := unix.AF_INET6
	if ip4 {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, err
	}
	s := &mmsgSocket{f: os.NewFile(uintptr(fd), "udp"), ip4: ip4}
	if err := s.bind(fd, ua); err != nil {
		s.f.Close()
		return nil, err
	}
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return nil, err
	}
	return s, nil
}

func (s *mmsgSocket) bind(fd int, ua *net.UDPAddr) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: closeCheck}); err != nil {
		return fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	var sa unix.Sockaddr
	if s.ip4 {
		sa = &unix.SockaddrInet4{Port: ua.Port, Addr: [4]byte(ua.IP.To4())}
	} else {
		// The unspecified address serves IPv4 too, as net.ListenPacket's.
		if ua.IP == nil || ua.IP.IsUnspecified() {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
				return fmt.Errorf("IPV6_V6ONLY: %w", err)
			}
		}
		sa6 := &unix.SockaddrInet6{Port: ua.Port}
		if ua.IP != nil {
			sa6.Addr = [16]byte(ua.IP.To16())
		}
		sa = sa6
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return err
	}
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		s.addr = netip.AddrPortFrom(netip.AddrFrom4(b.Addr), uint16(b.Port))
	case *unix.SockaddrInet6:
		s.addr = netip.AddrPortFrom(netip.AddrFrom16(b.Addr), uint16(b.Port))
	}
	return nil
}

func (s *mmsgSocket) local() netip.AddrPort { return s.addr }

func (s *mmsgSocket) Close() error {
	s.closing.Store(true)
	return s.f.Close()
}

// failed is the error of a read or write that did not complete.
func (s *mmsgSocket) failed(err error) error {
	if s.closing.Load() {
		return os.ErrClosed
	}
	return err
}

func (s *mmsgSocket) read(in []datagram) (int, error) {
	n := min(len(in), batchSize)
	for i := range n {
		s.riovs[i].Base = &in[i].buf[0]
		s.riovs[i].SetLen(len(in[i].buf))
		s.rhdrs[i].Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&s.rnames[i])), Namelen: unix.SizeofSockaddrInet6, Iov: &s.riovs[i]}
		s.rhdrs[i].Hdr.SetIovlen(1)
	}
	var got uintptr
	var errno syscall.Errno
	err := s.rc.Read(func(fd uintptr) bool {
		// MSG_WAITFORONE: block for the first datagram only.
		got, _, errno = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.rhdrs[0])), uintptr(n), unix.MSG_WAITFORONE, 0, 0)
		return true
	})
	if err != nil {
		return 0, s.failed(err)
	}
	if errno != 0 {
		return 0, s.failed(errno)
	}
	for i := range int(got) {
		in[i].n = int(s.rhdrs[i].Len)
		in[i].peer = peerOf(&s.rnames[i])
	}
	return int(got), nil
}

func (s *mmsgSocket) write(out []datagram) (int, error) {
	n := min(len(out), batchSize)
	for i := range n {
		s.wiovs[i].Base = &out[i].buf[0]
		s.wiovs[i].SetLen(len(out[i].buf))
		s.whdrs[i].Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&s.wnames[i])), Namelen: s.sockaddr(&s.wnames[i], out[i].peer), Iov: &s.wiovs[i]}
		s.whdrs[i].Hdr.SetIovlen(1)
	}
	var sent uintptr
	var errno syscall.Errno
	err := s.rc.Write(func(fd uintptr) bool {
		sent, _, errno = unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.whdrs[0])), uintptr(n), 0, 0, 0)
		return true
	})
	if err != nil {
		return 0, s.failed(err)
	}
	if errno != 0 {
		return 0, s.failed(errno)
	}
	return int(sent), nil
}

// peerOf reads the source address the kernel wrote (sockaddr_in or
// sockaddr_in6, by its family).
func peerOf(sa *unix.RawSockaddrInet6) netip.AddrPort {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
}

// sockaddr writes peer in the socket's family and returns its length.
func (s *mmsgSocket) sockaddr(sa *unix.RawSockaddrInet6, peer netip.AddrPort) uint32 {
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], peer.Port())
	if s.ip4 {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		sa4.Addr = peer.Addr().Unmap().As4()
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	sa.Addr = peer.Addr().As16()
	return unix.SizeofSockaddrInet6
}
