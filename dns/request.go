package dns

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// MaxUDPSize is the largest UDP answer the server sends whatever the
// client advertises: 1232 bytes avoids IP fragmentation on any path
// (DNS flag day 2020), and is what the server advertises itself.
const MaxUDPSize = 1232

// edns is what the query's OPT record asked for.
type edns struct {
	opt     *dns.OPT
	size    int
	nsid    bool
	ecs     *dns.EDNS0_SUBNET
	ecsAddr netip.Prefix // the ECS source prefix (masked), when ecs != nil
}

var (
	errManyOPT = errors.New("more than one OPT record")
	errManyECS = errors.New("more than one client subnet option")
	errECS     = errors.New("malformed client subnet option")
)

// parseEDNS reads the OPT record of req. A nil opt means the client does
// not speak EDNS.
func parseEDNS(req *dns.Msg) (edns, error) {
	var e edns
	for _, rr := range req.Extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			continue
		}
		if e.opt != nil {
			return e, errManyOPT
		}
		e.opt = opt
	}
	if e.opt == nil {
		return e, nil
	}
	e.size = max(int(e.opt.UDPSize()), dns.MinMsgSize)
	for _, o := range e.opt.Option {
		switch o := o.(type) {
		case *dns.EDNS0_NSID:
			e.nsid = true
		case *dns.EDNS0_SUBNET:
			if e.ecs != nil {
				return e, errManyECS
			}
			p, err := subnetPrefix(o)
			if err != nil {
				return e, err
			}
			e.ecs, e.ecsAddr = o, p
		}
	}
	return e, nil
}

// subnetPrefix validates an ECS option (RFC 7871 §6): a known family, a
// source prefix that fits it, and no address bits set past the prefix.
func subnetPrefix(o *dns.EDNS0_SUBNET) (netip.Prefix, error) {
	var ip net.IP
	switch o.Family {
	case 0:
		// dig sends family 0 with prefix 0 for +subnet=0; miekg/dns only
		// accepts family 0 with prefix 0.
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), nil
	case 1:
		ip = o.Address.To4()
	case 2:
		ip = o.Address.To16()
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, errECS
	}
	p, err := addr.Prefix(int(o.SourceNetmask))
	if err != nil || p.Addr() != addr {
		return netip.Prefix{}, errECS
	}
	return p, nil
}

// responseOPT is the OPT record of a response to a query that had one.
func (e *edns) responseOPT(nodeID string, scope int) *dns.OPT {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(MaxUDPSize)
	if e.opt.Do() {
		opt.SetDo()
	}
	if e.nsid && nodeID != "" {
		opt.Option = append(opt.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: hex.EncodeToString([]byte(nodeID))})
	}
	if e.ecs != nil {
		opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{
			Code:          dns.EDNS0SUBNET,
			Family:        e.ecs.Family,
			SourceNetmask: e.ecs.SourceNetmask,
			SourceScope:   uint8(min(scope, int(e.ecs.SourceNetmask))),
			Address:       e.ecs.Address,
		})
	}
	return opt
}

// ClientSubnet builds the ECS option a resolver would send for prefix p.
func ClientSubnet(p netip.Prefix) *dns.EDNS0_SUBNET {
	p = p.Masked()
	family := uint16(1)
	if p.Addr().Is6() {
		family = 2
	}
	return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}
}
