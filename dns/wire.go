package dns

import (
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/geodns/geodns/balancer"
)

const headerLen = 12

// RespondWire answers one query in wire format and returns the packed
// response, or nil when nothing must be sent (not a query, or too short to
// carry an ID to answer to). A message that does not parse gets FORMERR.
func RespondWire(snap *balancer.Snapshot, query []byte, src netip.Addr, tcp bool) []byte {
	res, _ := respondBytes(snap, query, src, tcp)
	return packResponse(res.Msg, query)
}

// respondBytes is Respond for a query in wire format; it also returns the
// parsed query (nil when it did not parse).
func respondBytes(snap *balancer.Snapshot, query []byte, src netip.Addr, tcp bool) (Result, *dns.Msg) {
	if len(query) < headerLen || query[2]&0x80 != 0 {
		return Result{}, nil
	}
	req := new(dns.Msg)
	if err := req.Unpack(query); err != nil {
		return Result{Msg: formatError(query)}, nil
	}
	return Respond(snap, req, src, tcp), req
}

// packResponse packs m, the response to query; nil for nil. A response
// that cannot be packed becomes FORMERR.
func packResponse(m *dns.Msg, query []byte) []byte {
	if m == nil {
		return nil
	}
	out, err := m.Pack()
	if err != nil {
		out, _ = formatError(query).Pack()
	}
	return out
}

// formatError is a bare FORMERR reply to a query that does not parse:
// its ID and opcode, no question.
func formatError(query []byte) *dns.Msg {
	m := new(dns.Msg)
	m.Id = binary.BigEndian.Uint16(query)
	m.Response = true
	m.Opcode = int(query[2]>>3) & 0xF
	m.Rcode = dns.RcodeFormatError
	return m
}
