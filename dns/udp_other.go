//go:build !linux

package dns

import (
	"net"
	"net/netip"
)

// netSocket is a UDP socket read and written one datagram per system call,
// where recvmmsg and sendmmsg are not available.
type netSocket struct{ *net.UDPConn }

// listenUDP binds one socket to addr; workers share it.
func listenUDP(addr string, n int) ([]udpSocket, error) {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	socks := make([]udpSocket, max(n, 1))
	for i := range socks {
		socks[i] = netSocket{c.(*net.UDPConn)}
	}
	return socks, nil
}

func (s netSocket) local() netip.AddrPort { return s.LocalAddr().(*net.UDPAddr).AddrPort() }

func (s netSocket) read(in []datagram) (int, error) {
	n, peer, err := s.ReadFromUDPAddrPort(in[0].buf)
	if err != nil {
		return 0, err
	}
	in[0].n, in[0].peer = n, peer
	return 1, nil
}

func (s netSocket) write(out []datagram) (int, error) {
	_, err := s.WriteToUDPAddrPort(out[0].buf, out[0].peer)
	return 1, err
}
