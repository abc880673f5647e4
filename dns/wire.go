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
	if len(query) < headerLen || query[2]&0x80 != 0 {
		return nil
	}
	req := new(dns.Msg)
	var m *dns.Msg
	if err := req.Unpack(query); err != nil {
		m = formatError(query)
	} else if m = Respond(snap, req, src, tcp).Msg; m == nil {
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
