package dns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/zones"
)

// maxChain bounds CNAME chasing inside our own zones.
const maxChain = 8

// Result is a response and how it was made.
type Result struct {
	// Msg is the response; nil means send nothing.
	Msg *dns.Msg
	// Client is the client as the decision saw it (valid when a service
	// was consulted).
	Client balancer.Client
	// Decisions taken for the load-balanced names in the answer.
	Decisions []ServiceDecision
	// Zone is the origin of the zone that answered; "" when none did.
	Zone string
	// ECS is set when the query carried an EDNS client subnet option.
	ECS bool
}

// ServiceDecision is one balancer decision in an answer.
type ServiceDecision struct {
	Service string
	balancer.Decision
	svc *zones.Service
}

// Respond answers req, received from src over UDP (tcp false) or TCP,
// from snapshot snap.
func Respond(snap *balancer.Snapshot, req *dns.Msg, src netip.Addr, tcp bool) Result {
	return respond(snap, req, src, tcp, nil)
}

// decider makes the balancer decisions of one response; nil asks the
// snapshot. The answer cache uses it to build the response for a decision
// it has already made.
type decider func(svc *zones.Service, c balancer.Client) balancer.Decision

func respond(snap *balancer.Snapshot, req *dns.Msg, src netip.Addr, tcp bool, decide decider) Result {
	if decide == nil {
		decide = snap.Decide
	}
	r := responder{snap: snap, req: req, src: src, decide: decide}
	if req.Response {
		return Result{}
	}
	m := r.answer()
	if !tcp {
		size := dns.MinMsgSize
		if r.edns.opt != nil {
			size = min(r.edns.size, MaxUDPSize)
		}
		m.Truncate(size)
		// Truncate turns compression off when the answer fits without:
		// smaller datagrams are worth the packing time.
		m.Compress = true
	}
	res := Result{Msg: m, Decisions: r.decisions, Zone: r.zone, ECS: r.edns.ecs != nil}
	if r.clientDone {
		res.Client = r.client
	}
	return res
}

type responder struct {
	snap   *balancer.Snapshot
	req    *dns.Msg
	src    netip.Addr
	decide decider
	edns   edns

	client     balancer.Client
	clientDone bool
	scope      int
	decisions  []ServiceDecision
	zone       string
}

// answer builds the response before any truncation.
func (r *responder) answer() *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r.req)
	m.Compress = true
	m.Authoritative = false
	m.RecursionAvailable = false
	var err error
	r.edns, err = parseEDNS(r.req)
	switch {
	case len(r.req.Question) != 1 || err != nil:
		m.Question = nil
		return r.finish(m, dns.RcodeFormatError)
	case r.req.Opcode != dns.OpcodeQuery:
		return r.finish(m, dns.RcodeNotImplemented)
	case r.edns.opt != nil && r.edns.opt.Version() != 0:
		return r.finish(m, dns.RcodeBadVers)
	}
	q := r.req.Question[0]
	switch {
	case q.Qclass == dns.ClassCHAOS:
		return r.finish(m, r.chaos(m, q))
	case q.Qclass != dns.ClassINET:
		return r.finish(m, dns.RcodeRefused)
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		return r.finish(m, dns.RcodeRefused)
	}
	name := strings.ToLower(q.Name)
	z := r.snap.Zones.Find(name)
	if z == nil {
		return r.finish(m, dns.RcodeRefused)
	}
	r.zone = z.Origin
	return r.finish(m, r.lookup(m, z, name, q.Name, q.Qtype))
}

// finish sets the rcode and the OPT record.
func (r *responder) finish(m *dns.Msg, rcode int) *dns.Msg {
	m.Rcode = rcode
	if r.edns.opt != nil {
		m.Extra = append(m.Extra, r.edns.responseOPT(r.snap.NodeID, r.scope))
	} else if rcode > 0xF {
		// An extended rcode cannot be sent without OPT.
		m.Rcode = dns.RcodeFormatError
	}
	return m
}

// chaos answers the CHAOS-class names that identify the node.
func (r *responder) chaos(m *dns.Msg, q dns.Question) int {
	name := strings.ToLower(q.Name)
	if (name != "id.server." && name != "hostname.bind.") || r.snap.NodeID == "" {
		return dns.RcodeRefused
	}
	if q.Qtype != dns.TypeTXT && q.Qtype != dns.TypeANY {
		return dns.RcodeSuccess
	}
	m.Answer = append(m.Answer, &dns.TXT{
		Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS},
		Txt: []string{r.snap.NodeID},
	})
	return dns.RcodeSuccess
}

// lookup fills m with the answer for name in zone z and returns the rcode.
// owner is the name as the client wrote it, used for synthesized records.
func (r *responder) lookup(m *dns.Msg, z *zones.Zone, name, owner string, qtype uint16) int {
	m.Authoritative = true
	for hop := 0; ; hop++ {
		if cut := delegation(z, name); cut != nil && !(qtype == dns.TypeDS && cut.Name == name) {
			r.referral(m, z, cut)
			return dns.RcodeSuccess
		}
		node, ok := z.Nodes[name]
		if !ok {
			if z.Exists(name) {
				return r.nodata(m, z)
			}
			if node = wildcard(z, name); node == nil {
				r.negative(m, z)
				return dns.RcodeNameError
			}
		}
		target, found := r.fromNode(m, node, owner, qtype)
		if target == "" {
			if !found {
				return r.nodata(m, z)
			}
			return dns.RcodeSuccess
		}
		// Follow the CNAME when its target is ours.
		next := r.snap.Zones.Find(target)
		if next == nil || hop == maxChain {
			return dns.RcodeSuccess
		}
		z, name, owner = next, target, target
	}
}

// fromNode adds node's data for qtype to m. It returns the lower-case
// target of a CNAME it added (to follow), and whether it added anything.
func (r *responder) fromNode(m *dns.Msg, node *zones.Node, owner string, qtype uint16) (string, bool) {
	if node.Service != nil {
		if target, found := r.service(m, node.Service, owner, qtype); found {
			return target, true
		}
	}
	if qtype == dns.TypeANY {
		// RFC 8482: one RRset rather than everything.
		if t := firstType(node); t != 0 {
			m.Answer = append(m.Answer, ownedBy(node.Records[t], owner, node.Name)...)
			return "", true
		}
		return "", false
	}
	if rrs := node.Records[qtype]; len(rrs) > 0 {
		m.Answer = append(m.Answer, ownedBy(rrs, owner, node.Name)...)
		return "", true
	}
	if rrs := node.Records[dns.TypeCNAME]; len(rrs) > 0 {
		m.Answer = append(m.Answer, ownedBy(rrs, owner, node.Name)...)
		return strings.ToLower(rrs[0].(*dns.CNAME).Target), true
	}
	return "", false
}

// service answers a load-balanced name: A/AAAA (and ANY, as A) from the
// chosen regions' addresses, or a CNAME when the best region is a name.
func (r *responder) service(m *dns.Msg, svc *zones.Service, owner string, qtype uint16) (string, bool) {
	switch qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeCNAME:
	default:
		return "", false
	}
	d := r.decide(svc, r.clientFor())
	r.decisions = append(r.decisions, ServiceDecision{Service: svc.Name, Decision: d, svc: svc})
	r.scope = max(r.scope, d.Scope)
	if len(d.Regions) == 0 {
		return "", false
	}
	hdr := dns.RR_Header{Name: owner, Class: dns.ClassINET, Ttl: svc.TTL}
	if first := d.Regions[0]; first.CNAME != "" {
		hdr.Rrtype = dns.TypeCNAME
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr, Target: first.CNAME})
		if qtype == dns.TypeCNAME {
			return "", true
		}
		return first.CNAME, true
	}
	if qtype == dns.TypeCNAME {
		return "", false
	}
	added := false
	for _, reg := range d.Regions {
		if qtype == dns.TypeA || qtype == dns.TypeANY {
			hdr.Rrtype = dns.TypeA
			for _, a := range reg.IPv4 {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
				added = true
			}
		}
		if qtype == dns.TypeAAAA {
			hdr.Rrtype = dns.TypeAAAA
			for _, a := range reg.IPv6 {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
				added = true
			}
		}
	}
	return "", added
}

// clientFor works out the client once per query, and only when a
// load-balanced name needs it.
func (r *responder) clientFor() balancer.Client {
	if !r.clientDone {
		r.clientDone = true
		ecs := netip.Prefix{}
		if r.edns.ecs != nil {
			ecs = r.edns.ecsAddr
		}
		r.client = clientOf(r.snap, r.src, r.edns.ecs != nil, ecs)
	}
	return r.client
}

// clientOf is the client a decision sees: the ECS address when the query
// has one (none at all for source prefix 0), else the packet source, and
// where the GeoIP database places it.
func clientOf(snap *balancer.Snapshot, src netip.Addr, hasECS bool, ecs netip.Prefix) balancer.Client {
	addr := src
	if hasECS {
		addr = netip.Addr{}
		if ecs.Bits() > 0 {
			addr = ecs.Addr()
		}
	}
	c := balancer.Client{Addr: addr.Unmap()}
	if c.Addr.IsValid() && snap.Geo != nil {
		c.Loc, c.Located = snap.Geo.Locate(c.Addr)
	}
	return c
}

// nodata answers NOERROR with no records and the SOA for negative caching.
func (r *responder) nodata(m *dns.Msg, z *zones.Zone) int {
	r.negative(m, z)
	return dns.RcodeSuccess
}

// negative adds the zone SOA at the negative-caching TTL (RFC 2308 §3).
func (r *responder) negative(m *dns.Msg, z *zones.Zone) {
	soa := *z.SOA
	soa.Hdr.Ttl = z.NegativeTTL()
	m.Ns = append(m.Ns, &soa)
}

// referral answers for a name at or below a zone cut: not authoritative,
// the delegation's NS records, and glue for name servers inside the zone.
func (r *responder) referral(m *dns.Msg, z *zones.Zone, cut *zones.Node) {
	m.Authoritative = false
	ns := cut.Records[dns.TypeNS]
	m.Ns = append(m.Ns, ns...)
	for _, rr := range ns {
		host := strings.ToLower(rr.(*dns.NS).Ns)
		if glue := z.Nodes[host]; glue != nil && dns.IsSubDomain(z.Origin, host) {
			m.Extra = append(m.Extra, glue.Records[dns.TypeA]...)
			m.Extra = append(m.Extra, glue.Records[dns.TypeAAAA]...)
		}
	}
}

// delegation returns the highest zone cut (a non-apex node with NS
// records) at or above name, or nil.
func delegation(z *zones.Zone, name string) *zones.Node {
	labels := dns.Split(name)
	apexLabels := dns.CountLabel(z.Origin)
	for i := len(labels) - apexLabels - 1; i >= 0; i-- {
		if n := z.Nodes[name[labels[i]:]]; n != nil && len(n.Records[dns.TypeNS]) > 0 {
			return n
		}
	}
	return nil
}

// wildcard finds the wildcard node that synthesizes name (RFC 4592 §3.3.1):
// the "*" child of name's closest encloser, if it exists.
func wildcard(z *zones.Zone, name string) *zones.Node {
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		encloser := name[off:]
		if z.Exists(encloser) || encloser == z.Origin {
			return z.Nodes["*."+encloser]
		}
	}
	return nil
}

// ownedBy returns rrs with owner as their name when they were synthesized
// from a wildcard; records of the name itself are returned as stored.
func ownedBy(rrs []dns.RR, owner, nodeName string) []dns.RR {
	if !strings.HasPrefix(nodeName, "*.") {
		return rrs
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Name = owner
	}
	return out
}

// firstType is the lowest RR type a node has, for minimal ANY answers.
func firstType(node *zones.Node) uint16 {
	var best uint16
	for t, rrs := range node.Records {
		if len(rrs) > 0 && (best == 0 || t < best) {
			best = t
		}
	}
	return best
}
