package zones

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

const (
	defaultServiceTTL = 30
	strategyList      = "round_robin, weighted, least_latency or geo"
)

func validStrategy(s string) bool {
	switch s {
	case "round_robin", "weighted", "least_latency", "geo":
		return true
	}
	return false
}

// services reads the services mapping of a file into z.
func (p *fileParser) services(e entry, z *Zone) {
	seen := map[string]entry{} // by FQDN: "www" and "www.example.test." are one name
	pairs, _ := p.entries(e.val, "services")
	for _, se := range pairs {
		where := "service " + se.key
		name, ok := p.absName(se.key)
		switch {
		case !ok:
			p.errorf(se.line, "service %q: not a valid domain name", se.key)
			continue
		case !dns.IsSubDomain(z.Origin, name):
			p.errorf(se.line, "%s: %s is outside the zone %s", where, name, z.Origin)
			continue
		}
		if first, dup := seen[name]; dup {
			p.errorf(se.line, "%s: %s is already the service %s (line %d)", where, name, first.key, first.line)
			continue
		}
		seen[name] = se
		if svc := p.service(se, name, where); svc != nil {
			p.attachService(z, svc, where, se.line)
		}
	}
}

// service reads one service definition; nil after a problem.
func (p *fileParser) service(se entry, name, where string) *Service {
	f, ok := p.fields(se.val, where, "regions", "strategy", "ttl", "answers", "default", "nets", "fallback", "backup")
	if !ok {
		return nil
	}
	before := len(p.errs)
	svc := &Service{Name: name, TTL: defaultServiceTTL, Answers: 1}
	if e, ok := f["regions"]; ok {
		svc.Regions = p.serviceRegions(e, sub(where, "regions"))
	}
	if e, ok := f["strategy"]; ok {
		svc.Strategy = p.strategy(e, sub(where, "strategy"))
	}
	if e, ok := f["ttl"]; ok {
		ttl, _ := p.integer(e, sub(where, "ttl"), 0, maxTTL, ttlWant)
		svc.TTL = uint32(ttl)
	}
	if e, ok := f["answers"]; ok {
		n, _ := p.integer(e, sub(where, "answers"), 1, math.MaxInt32, "an integer >= 1")
		svc.Answers, svc.AnswersSet = int(n), true
	}
	// default and nets name regions that must be among svc.Regions, so
	// they are read after it.
	if e, ok := f["default"]; ok {
		if s, ok := p.str(e, sub(where, "default")); ok {
			p.useRegion(svc, sub(where, "default"), s, e.val.Line)
			svc.Default = s
		}
	}
	if e, ok := f["nets"]; ok {
		svc.Nets = p.nets(e, svc, sub(where, "nets"))
	}
	if e, ok := f["fallback"]; ok {
		for _, item := range p.strList(e, sub(where, "fallback")) {
			p.useRegion(svc, sub(where, "fallback"), item.key, item.line)
			svc.Fallback = append(svc.Fallback, item.key)
		}
	}
	// The backup answers when every region of the service is down, so it
	// is usually a region outside the service: any known region will do.
	if e, ok := f["backup"]; ok {
		if s, ok := p.str(e, sub(where, "backup")); ok {
			p.file.refs = append(p.file.refs, regionRef{where: sub(where, "backup"), line: e.val.Line, name: s})
			svc.Backup = s
		}
	}
	if len(p.errs) > before {
		return nil
	}
	return svc
}

// serviceRegions reads the region names a service balances over. Whether
// they exist is for Build to say: they may be defined in another file.
func (p *fileParser) serviceRegions(e entry, where string) []string {
	var names []string
	for _, item := range p.strList(e, where) {
		if slices.Contains(names, item.key) {
			p.errorf(item.line, "%s: %s is listed twice", where, item.key)
			continue
		}
		names = append(names, item.key)
		p.file.refs = append(p.file.refs, regionRef{where: where, line: item.line, name: item.key})
	}
	return names
}

func (p *fileParser) strategy(e entry, where string) string {
	s, ok := p.str(e, where)
	if ok && !validStrategy(s) {
		p.errorf(e.val.Line, "%s: %q is not one of %s", where, s, strategyList)
	}
	return s
}

// useRegion checks a region named by default or nets. It must be one of
// the service's regions, or, for a service over every region, exist in
// the Set (which Build checks).
func (p *fileParser) useRegion(svc *Service, where, name string, line int) {
	if len(svc.Regions) == 0 {
		p.file.refs = append(p.file.refs, regionRef{where: where, line: line, name: name})
		return
	}
	if !slices.Contains(svc.Regions, name) {
		p.errorf(line, "%s: %s is not one of the service's regions", where, name)
	}
}

// nets reads the network overrides, sorted most specific first so the
// first prefix that contains a client is the one that applies.
func (p *fileParser) nets(e entry, svc *Service, where string) []NetOverride {
	var out []NetOverride
	seen := map[netip.Prefix]entry{}
	pairs, _ := p.entries(e.val, where)
	for _, ne := range pairs {
		pfx, err := netip.ParsePrefix(ne.key)
		if err != nil {
			p.errorf(ne.line, "%s: %q is not a network in CIDR notation (like 192.0.2.0/24 or 2001:db8::/32)", where, ne.key)
			continue
		}
		// A prefix with host bits set is most likely a typo; reading it
		// as its network would silently cover far more than meant.
		if m := pfx.Masked(); m != pfx {
			p.errorf(ne.line, "%s: %s has host bits set: write %s", where, ne.key, m)
			continue
		}
		if first, dup := seen[pfx]; dup {
			p.errorf(ne.line, "%s: %s is the same network as %s (line %d)", where, ne.key, first.key, first.line)
			continue
		}
		seen[pfx] = ne
		region, ok := p.str(ne, sub(where, ne.key))
		if !ok {
			continue
		}
		p.useRegion(svc, sub(where, ne.key), region, ne.val.Line)
		out = append(out, NetOverride{Prefix: pfx, Region: region})
	}
	// Prefixes of the two families never overlap; IPv4 first keeps the
	// order readable.
	slices.SortFunc(out, func(a, b NetOverride) int {
		return cmp.Or(
			cmp.Compare(a.Prefix.Addr().BitLen(), b.Prefix.Addr().BitLen()),
			cmp.Compare(b.Prefix.Bits(), a.Prefix.Bits()),
			a.Prefix.Addr().Compare(b.Prefix.Addr()))
	})
	return out
}

// attachService puts svc on its node, which must not also have static
// address or CNAME records: the service's regions supply those answers.
func (p *fileParser) attachService(z *Zone, svc *Service, where string, line int) {
	n := z.node(svc.Name)
	if rr := p.firstOf(n, dns.TypeA, dns.TypeAAAA, dns.TypeCNAME); rr != nil {
		p.errorf(line, "%s: %s also has a static %s record (line %d); a service's answers come from its regions",
			where, svc.Name, dns.TypeToString[rr.Header().Rrtype], p.rrLines[rr])
		return
	}
	n.Service = svc
	def := serviceDef{svc: svc, where: where, line: line}
	if rr := p.firstOtherData(n); rr != nil {
		def.static = fmt.Sprintf("%s record at line %d", dns.TypeToString[rr.Header().Rrtype], p.rrLines[rr])
	}
	p.file.services = append(p.file.services, def)
}
