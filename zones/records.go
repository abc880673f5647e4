package zones

import (
	"io"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

// packBufSize holds any single record: RDATA is at most 65535 bytes.
const packBufSize = 1 << 17

// record is a parsed resource record and its line in the YAML file.
type record struct {
	rr   dns.RR
	line int
}

// records parses the master-file text of the records key into z and checks
// the zone's shape.
func (p *fileParser) records(e entry, z *Zone) {
	text, ok := p.str(e, "records")
	if !ok {
		return
	}
	recs, complete := p.parseMasterFile(text, e.val, z.DefaultTTL)
	buf := make([]byte, packBufSize)
	for _, r := range recs {
		p.addRecord(z, r, buf)
	}
	p.checkCNAMEs(z)
	// After a syntax error the rest of the text is unread: missing apex
	// records or glue would only be noise.
	if complete {
		p.checkApex(z, e.line)
		p.checkGlue(z, recs)
	}
}

// parseMasterFile runs the miekg/dns zone parser over text and returns the
// records with their YAML lines, and whether the whole text parsed.
func (p *fileParser) parseMasterFile(text string, n *yaml.Node, ttl uint32) ([]record, bool) {
	// miekg/dns gives generated records its own default TTL, ignoring
	// $TTL and the zone's ttl, and one line can expand to 65535 records
	// (or churn through as many lines that hold none): refuse it before
	// the parser runs.
	if line := generateLine(text); line > 0 {
		p.errorf(blockLine(n, line), "records: $GENERATE is not supported: write the records out")
		return nil, false
	}
	// The ttl key is a $TTL directive on an extra line 0. The parser's
	// SetDefaultTTL is weaker: an explicit TTL on a record would become
	// the default of the records after it (RFC 1035 §5.1 without $TTL),
	// so "@ 3600 SOA ..." would override the ttl key.
	text = "$TTL " + strconv.FormatUint(uint64(ttl), 10) + "\n" + text
	in := &byteReader{text: text}
	zp := dns.NewZoneParser(in, p.origin, "")
	// $INCLUDE would read files on the server, and echo them in errors.
	zp.SetIncludeAllowed(false)
	lines := &lineFinder{text: text, line: 0}
	var out []record
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, record{rr: rr, line: blockLine(n, lines.next(in.pos))})
	}
	if err := zp.Err(); err != nil {
		line, msg := splitParseError(err)
		p.errorf(blockLine(n, max(line-1, 0)), "records: %s", msg)
		return out, false
	}
	return out, true
}

// splitParseError takes the line out of a miekg/dns parse error, which
// does not export it: `dns: bad A A: "1.2.3" at line: 3:13`.
func splitParseError(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "dns: ")
	i := strings.LastIndex(msg, " at line: ")
	if i < 0 {
		return 0, msg
	}
	num, _, _ := strings.Cut(msg[i+len(" at line: "):], ":")
	line, convErr := strconv.Atoi(num)
	if convErr != nil {
		return 0, msg
	}
	return line, msg[:i]
}

// blockLine maps line l (1-based) of the records text to a line of the
// YAML file.
func blockLine(n *yaml.Node, l int) int {
	switch {
	case n.Style&yaml.LiteralStyle != 0:
		// A literal block keeps its lines as written, starting on the
		// line after the "|" header (which is n.Line).
		return n.Line + l
	case n.Style&yaml.FoldedStyle != 0:
		// Folding joins lines: only where the text starts is known.
		return n.Line + 1
	default:
		// Plain and quoted scalars: folding and escapes hide the
		// layout, so point at the start of the scalar.
		return n.Line
	}
}

// byteReader hands the text to the zone parser. miekg/dns reads through
// io.ByteReader when the source has it, instead of buffering ahead, so pos
// is exactly how far the parser has read: lineFinder relies on that to
// recover the line of each record, which the parser does not expose.
type byteReader struct {
	text string
	pos  int
}

func (r *byteReader) ReadByte() (byte, error) {
	if r.pos >= len(r.text) {
		return 0, io.EOF
	}
	r.pos++
	return r.text[r.pos-1], nil
}

// Read makes byteReader the io.Reader NewZoneParser takes; the lexer
// itself only calls ReadByte.
func (r *byteReader) Read(b []byte) (int, error) {
	if r.pos >= len(r.text) {
		return 0, io.EOF
	}
	n := copy(b, r.text[r.pos:])
	r.pos += n
	return n, nil
}

// lineFinder finds the line each record starts on. The parser returns a
// record once it has read it to its end, so a record starts on the first
// line read since the previous record that is not blank, a comment or a
// $TTL/$ORIGIN directive.
type lineFinder struct {
	text string
	pos  int // how far the previous records reach
	line int // line number at pos
}

// next returns the line of the record that ends at end.
func (f *lineFinder) next(end int) int {
	start := 0
	for f.pos < end {
		chunk := f.text[f.pos:end]
		nl := strings.IndexByte(chunk, '\n')
		if nl >= 0 {
			chunk = chunk[:nl]
		}
		if start == 0 && startsRecord(chunk) {
			start = f.line
		}
		if nl < 0 {
			f.pos = end
			break
		}
		f.pos += nl + 1
		f.line++
	}
	return start
}

// startsRecord reports whether a line of master-file text holds (the start
// of) a record, rather than nothing, a comment or a directive that is not
// a record.
func startsRecord(line string) bool {
	fields := strings.Fields(line)
	if len(fields) == 0 || strings.HasPrefix(fields[0], ";") {
		return false
	}
	switch strings.ToUpper(fields[0]) {
	case "$TTL", "$ORIGIN":
		return false
	}
	return true
}

// generateLine returns the line of the first $GENERATE directive in text,
// or 0. It reads lines as the miekg/dns lexer does: a directive starts in
// the first column and ends at a blank, and the lexer drops carriage
// returns and parentheses. (It ignores whether the line continues a
// parenthesised record, which would make it data: rejecting that too is
// harmless.)
func generateLine(text string) int {
	n := 0
	for line := range strings.Lines(text) {
		n++
		line = strings.Map(func(r rune) rune {
			if r == '\r' || r == '(' || r == ')' {
				return -1
			}
			return r
		}, line)
		const dir = "$GENERATE"
		if len(line) > len(dir) && strings.EqualFold(line[:len(dir)], dir) && (line[len(dir)] == ' ' || line[len(dir)] == '\t') {
			return n
		}
	}
	return 0
}

// addRecord checks one record on its own and stores it in its node.
func (p *fileParser) addRecord(z *Zone, r record, buf []byte) {
	h := r.rr.Header()
	owner := dns.CanonicalName(h.Name)
	typ := dns.TypeToString[h.Rrtype]
	switch {
	case h.Class != dns.ClassINET:
		p.errorf(r.line, "records: %s %s: class %s is not supported, only IN", owner, typ, dns.ClassToString[h.Class])
		return
	case !dns.IsSubDomain(z.Origin, owner):
		p.errorf(r.line, "records: %s is outside the zone %s", owner, z.Origin)
		return
	}
	if problem := unservable(r.rr, buf); problem != "" {
		p.errorf(r.line, "records: %s %s %s", owner, typ, problem)
		return
	}
	switch rr := r.rr.(type) {
	case *dns.SOA:
		if !p.setSOA(z, rr, owner, r.line) {
			return
		}
	case *dns.NS:
		if owner == z.Origin {
			z.NS = append(z.NS, rr)
		}
	case *dns.CNAME:
		if owner == z.Origin {
			p.errorf(r.line, "records: CNAME is not allowed at the zone apex %s", z.Origin)
			return
		}
	}
	p.rrLines[r.rr] = r.line
	n := z.node(owner)
	n.Records[h.Rrtype] = append(n.Records[h.Rrtype], r.rr)
}

// setSOA accepts the zone's only SOA, which must be at the apex.
func (p *fileParser) setSOA(z *Zone, soa *dns.SOA, owner string, line int) bool {
	switch {
	case owner != z.Origin:
		p.errorf(line, "records: the SOA record must be at the zone apex %s, not at %s", z.Origin, owner)
		return false
	case z.SOA != nil:
		p.errorf(line, "records: second SOA record (the first is at line %d)", p.rrLines[z.SOA])
		return false
	}
	z.SOA = soa
	return true
}

// unservable explains why rr could not go into an answer, or returns "".
// The zone parser accepts a record type without data (a dynamic-update
// form) and leaves some data unchecked, e.g. base64 in RRSIGs; packing the
// record is what the server would do, so it is the check.
func unservable(rr dns.RR, buf []byte) string {
	if newRR, ok := dns.TypeToRR[rr.Header().Rrtype]; ok {
		blank := newRR()
		*blank.Header() = *rr.Header()
		if dns.IsDuplicate(rr, blank) {
			return "has no data"
		}
	}
	// Pack a copy: packing sets Rdlength, and the record stays as parsed.
	if _, err := dns.PackRR(dns.Copy(rr), buf, 0, nil, false); err != nil {
		return "cannot be encoded: " + err.Error()
	}
	return ""
}

// node returns the node for name (a lower-case FQDN), creating it.
func (z *Zone) node(name string) *Node {
	n := z.Nodes[name]
	if n == nil {
		n = &Node{Name: name, Records: map[uint16][]dns.RR{}}
		z.Nodes[name] = n
	}
	return n
}

// checkApex requires the apex SOA and NS records; line is the records key.
func (p *fileParser) checkApex(z *Zone, line int) {
	if z.SOA == nil {
		p.errorf(line, "records: no SOA record at the zone apex %s", z.Origin)
	}
	if len(z.NS) == 0 {
		p.errorf(line, "records: no NS record at the zone apex %s", z.Origin)
	}
}

// checkCNAMEs enforces RFC 1034 §3.6.2 and RFC 2181 §10.1: a name with a
// CNAME has exactly one and no other data, DNSSEC records aside.
func (p *fileParser) checkCNAMEs(z *Zone) {
	for name, n := range z.Nodes {
		cnames := n.Records[dns.TypeCNAME]
		if len(cnames) == 0 {
			continue
		}
		for _, extra := range cnames[1:] {
			p.errorf(p.rrLines[extra], "records: %s has more than one CNAME (the first is at line %d)", name, p.rrLines[cnames[0]])
		}
		if other := p.firstOtherData(n); other != nil {
			p.errorf(p.rrLines[cnames[0]], "records: %s has CNAME and other data (%s at line %d)",
				name, dns.TypeToString[other.Header().Rrtype], p.rrLines[other])
		}
	}
}

// firstOtherData returns the earliest record of n that may not sit beside
// a CNAME, or nil.
func (p *fileParser) firstOtherData(n *Node) dns.RR {
	var types []uint16
	for typ := range n.Records {
		switch typ {
		case dns.TypeCNAME, dns.TypeRRSIG, dns.TypeNSEC:
			continue
		}
		types = append(types, typ)
	}
	return p.firstOf(n, types...)
}

// firstOf returns the earliest record of n of one of types, or nil. No
// two records start on the same line, so the line decides.
func (p *fileParser) firstOf(n *Node, types ...uint16) dns.RR {
	var first dns.RR
	for _, typ := range types {
		for _, rr := range n.Records[typ] {
			if first == nil || p.rrLines[rr] < p.rrLines[first] {
				first = rr
			}
		}
	}
	return first
}

// checkGlue requires an address for every NS target inside the zone:
// without one, resolvers cannot reach a server named below the zone cut.
func (p *fileParser) checkGlue(z *Zone, recs []record) {
	for _, r := range recs {
		ns, ok := r.rr.(*dns.NS)
		if !ok {
			continue
		}
		if _, accepted := p.rrLines[ns]; !accepted {
			continue // rejected, and reported, by addRecord
		}
		target := dns.CanonicalName(ns.Ns)
		if !dns.IsSubDomain(z.Origin, target) {
			continue
		}
		if n := z.Nodes[target]; n == nil || len(n.Records[dns.TypeA])+len(n.Records[dns.TypeAAAA]) == 0 {
			p.errorf(r.line, "records: NS target %s is in the zone but has no A or AAAA record", target)
		}
	}
}
