package dns

import (
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"
)

// maxKey bounds a cache key: a name of at most 255 bytes, its type and
// three bytes of EDNS shape.
const maxKey = 255 + 2 + 3

// wireQuery is a query read straight from its bytes, for the common shape
// only: one question of class IN, no answer or authority records, and at
// most an OPT record with NSID, client subnet, cookie or padding options.
// Everything else (and anything malformed) is left to the full parser,
// which owns every error answer.
type wireQuery struct {
	msg     []byte
	nameEnd int // offset just past the question name
	qtype   uint16
	opt     bool
	size    int // the most the client accepts over UDP
	ecs     bool
	// ecsPrefix is the client subnet (masked); ecsAddr are its address
	// bytes as sent, which the response echoes.
	ecsPrefix netip.Prefix
	ecsAddr   []byte
	// key identifies everything of the query the response depends on,
	// except the client: the name in lower case, type and EDNS shape.
	key  [maxKey]byte
	klen int
}

// EDNS shape bits of a cache key.
const (
	shapeOPT = 1 << iota
	shapeDO
	shapeNSID
	shapeECS
)

// parse reads msg; false means "not the common shape, use the parser".
func (q *wireQuery) parse(msg []byte) bool {
	if len(msg) < headerLen {
		return false
	}
	q.msg = msg
	// QR, opcode, AA and TC must be clear; RD and CD are echoed; AD is
	// ignored (dig sets it); RA, Z and the rcode must be clear.
	if msg[2]&^0x01 != 0 || msg[3]&^0x30 != 0 {
		return false
	}
	counts := binary.BigEndian.Uint64(msg[4:12])
	var arcount uint64
	switch counts {
	case 1 << 48: // qd 1, an 0, ns 0, ar 0
	case 1<<48 | 1:
		arcount = 1
	default:
		return false
	}
	// The name, lower-cased into the key.
	off := headerLen
	k := 0
	for {
		if off >= len(msg) {
			return false
		}
		n := int(msg[off])
		if n > 63 || off+1+n > len(msg) || k+1+n > 255 {
			return false // compression pointers have no place in a question
		}
		q.key[k] = byte(n)
		for i := 1; i <= n; i++ {
			c := msg[off+i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			q.key[k+i] = c
		}
		k += 1 + n
		off += 1 + n
		if n == 0 {
			break
		}
	}
	q.nameEnd = off
	if off+4 > len(msg) {
		return false
	}
	q.qtype = binary.BigEndian.Uint16(msg[off:])
	if binary.BigEndian.Uint16(msg[off+2:]) != dns.ClassINET {
		return false
	}
	switch q.qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, dns.TypeMAILA, dns.TypeMAILB:
		return false
	}
	off += 4
	q.opt, q.ecs, q.ecsAddr = false, false, nil
	q.size = dns.MinMsgSize
	var shape byte
	if arcount == 1 {
		var ok bool
		if shape, off, ok = q.parseOPT(msg, off); !ok {
			return false
		}
	}
	if off != len(msg) {
		return false
	}
	q.key[k], q.key[k+1] = byte(q.qtype>>8), byte(q.qtype)
	q.key[k+2] = shape
	k += 3
	if q.ecs {
		family := byte(1)
		if q.ecsPrefix.Addr().Is6() {
			family = 2
		}
		q.key[k], q.key[k+1] = family, byte(q.ecsPrefix.Bits())
		k += 2
	}
	q.klen = k
	return true
}

// parseOPT reads the OPT record at off and returns the key's EDNS shape
// and the offset past the record.
func (q *wireQuery) parseOPT(msg []byte, off int) (byte, int, bool) {
	// Root owner, type OPT, class = UDP size, TTL = extended rcode,
	// version and flags, then the options.
	if off+11 > len(msg) || msg[off] != 0 || binary.BigEndian.Uint16(msg[off+1:]) != dns.TypeOPT {
		return 0, 0, false
	}
	size := int(binary.BigEndian.Uint16(msg[off+3:]))
	extRcode, version, flags := msg[off+5], msg[off+6], binary.BigEndian.Uint16(msg[off+7:])
	if extRcode != 0 || version != 0 || flags&^0x8000 != 0 {
		return 0, 0, false
	}
	rdlen := int(binary.BigEndian.Uint16(msg[off+9:]))
	off += 11
	end := off + rdlen
	if end > len(msg) {
		return 0, 0, false
	}
	q.opt = true
	q.size = min(max(size, dns.MinMsgSize), MaxUDPSize)
	shape := byte(shapeOPT)
	if flags&0x8000 != 0 {
		shape |= shapeDO
	}
	for off < end {
		if off+4 > end {
			return 0, 0, false
		}
		code := binary.BigEndian.Uint16(msg[off:])
		n := int(binary.BigEndian.Uint16(msg[off+2:]))
		data := msg[off+4:]
		off += 4 + n
		if off > end {
			return 0, 0, false
		}
		data = data[:n]
		switch code {
		case dns.EDNS0NSID:
			shape |= shapeNSID
		case dns.EDNS0SUBNET:
			if q.ecs || !q.parseECS(data) {
				return 0, 0, false
			}
			shape |= shapeECS
		case dns.EDNS0COOKIE, dns.EDNS0PADDING:
			// Read and ignored by the full parser too.
		default:
			return 0, 0, false
		}
	}
	return shape, end, true
}

// parseECS reads a client subnet option that the full parser would accept
// as is: family 1 or 2, exactly the address bytes the source prefix needs,
// no bits past it, and scope 0.
func (q *wireQuery) parseECS(data []byte) bool {
	if len(data) < 4 || data[3] != 0 {
		return false
	}
	family, bits := binary.BigEndian.Uint16(data), int(data[2])
	addr := data[4:]
	if len(addr) != (bits+7)/8 {
		return false
	}
	var ip netip.Addr
	switch {
	case family == 1 && bits <= 32:
		var a [4]byte
		copy(a[:], addr)
		ip = netip.AddrFrom4(a)
	case family == 2 && bits <= 128:
		var a [16]byte
		copy(a[:], addr)
		ip = netip.AddrFrom16(a)
	default:
		return false
	}
	p := netip.PrefixFrom(ip, bits)
	if p.Masked().Addr() != ip {
		return false
	}
	q.ecs, q.ecsPrefix, q.ecsAddr = true, p, addr
	return true
}
