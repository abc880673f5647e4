package zones

import "github.com/miekg/dns"

// Exists reports whether name (lower-case FQDN) exists in the zone: it owns
// records or a service, or it is an empty non-terminal (a name with no data
// of its own but with names below it), which RFC 4592 treats as existing.
func (z *Zone) Exists(name string) bool {
	if _, ok := z.Nodes[name]; ok {
		return true
	}
	_, ok := z.ents[name]
	return ok
}

// index records the zone's empty non-terminals so that Exists is one map
// look-up on the query path, whatever the size of the zone.
func (z *Zone) index() {
	z.ents = map[string]struct{}{}
	for owner := range z.Nodes {
		for off, end := dns.NextLabel(owner, 0); !end; off, end = dns.NextLabel(owner, off) {
			parent := owner[off:]
			if len(parent) < len(z.Origin) {
				break
			}
			if _, ok := z.Nodes[parent]; !ok {
				z.ents[parent] = struct{}{}
			}
		}
	}
}
