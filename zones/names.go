package zones

import "github.com/miekg/dns"

// Exists reports whether name (lower-case FQDN) exists in the zone: it owns
// records or a service, or it is an empty non-terminal (a name with no data
// of its own but with names below it), which RFC 4592 treats as existing.
func (z *Zone) Exists(name string) bool {
	if _, ok := z.Nodes[name]; ok {
		return true
	}
	for owner := range z.Nodes {
		if len(owner) > len(name) && dns.IsSubDomain(name, owner) {
			return true
		}
	}
	return false
}
