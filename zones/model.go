package zones

import (
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Set is everything loaded from one zones directory (plus environment
// regions): the zones served and the regions their services balance over.
// A Set is immutable once built; changes build a new one.
type Set struct {
	// Zones sorted by origin length, longest first, so the first suffix
	// match in Find is the most specific zone.
	Zones []*Zone
	// Regions by name.
	Regions map[string]*Region
	// RegionNames in a stable order (sorted by name).
	RegionNames []string
}

// Find returns the zone that holds name (lower-case FQDN), or nil.
func (s *Set) Find(name string) *Zone {
	for _, z := range s.Zones {
		if dns.IsSubDomain(z.Origin, name) {
			return z
		}
	}
	return nil
}

// Region returns the named region or nil.
func (s *Set) Region(name string) *Region { return s.Regions[name] }

// Zone is one authoritative zone.
type Zone struct {
	// Origin is the lower-case FQDN of the apex, e.g. "example.test.".
	Origin string
	// File is the path the zone was loaded from (for messages).
	File string
	// SOA and NS are the apex records (also present in Nodes[Origin]).
	SOA *dns.SOA
	NS  []dns.RR
	// DefaultTTL applies to records written without a TTL.
	DefaultTTL uint32
	// Nodes holds every owner name (lower-case FQDN) that has records or a
	// service. Wildcard owners are stored as written ("*.example.test.").
	Nodes map[string]*Node
	// ents holds the empty non-terminals (see Exists); built with Nodes.
	ents map[string]struct{}
}

// NegativeTTL is the TTL of the SOA in negative answers (RFC 2308 §5:
// the minimum of the SOA TTL and its MINIMUM field).
func (z *Zone) NegativeTTL() uint32 {
	return min(z.SOA.Hdr.Ttl, z.SOA.Minttl)
}

// Node is one owner name: its static records by type and, when the name is
// load-balanced, its Service.
type Node struct {
	Name    string
	Records map[uint16][]dns.RR
	Service *Service
}

// Service is a load-balanced name: for each query the balancer picks one or
// more of its regions and the DNS answer carries those regions' records.
type Service struct {
	// Name is the lower-case FQDN of the service (e.g. "www.example.test.").
	Name string
	// Regions lists the region names this service balances over. Empty
	// means every region of the Set.
	Regions []string
	// Strategy is one of the balancer strategy names, or "" for the
	// server's default strategy.
	Strategy string
	// TTL of the answers.
	TTL uint32
	// Answers is how many regions one answer carries (1 = one region).
	Answers int
	// AnswersSet says the zone file gives answers; otherwise the default
	// strategy's answers parameter (Runtime.StrategyParameters) may
	// replace the default of 1.
	AnswersSet bool
	// Nets are network overrides for the geo strategy: the most specific
	// prefix containing the client wins over the GeoIP database.
	Nets []NetOverride
	// Default is the region geo falls back to when nothing else decides
	// ("" = first region of the service).
	Default string
	// Fallback is the order geo tries regions in when the ones serving the
	// client are down, before falling back to distance.
	Fallback []string
	// Backup is the region answered when every region of the service is
	// down ("" = fail open: answer as if all were up).
	Backup string
}

// NetOverride maps a client network to a region.
type NetOverride struct {
	Prefix netip.Prefix
	Region string
}

// Region is one deployment of the service (us-east, eu-west, ...).
type Region struct {
	Name string
	// Endpoint is the URL health checks and operators know the region by.
	Endpoint string
	// Addresses answered for A / AAAA queries. When both are empty the
	// region answers with CNAME (the endpoint's host name, or an explicit
	// target).
	IPv4  []netip.Addr
	IPv6  []netip.Addr
	CNAME string // lower-case FQDN, or "" when the region has addresses
	// Weight for weighted selection; 0 means drained.
	Weight float64
	// Location of the region, used by geo's nearest-region rule.
	Location *LatLon
	// Countries (ISO 3166-1 alpha-2, upper case) and continents (two-letter
	// codes: AF AN AS EU NA OC SA) this region explicitly serves.
	Countries  []string
	Continents []string
	// Check says how the region's health is checked (the zone file's
	// check key); the zero value checks the endpoint with the server's
	// defaults.
	Check HealthCheck
}

// HealthCheck says how a region is checked. Zero values mean "use the
// server's default" (interval, thresholds) or the endpoint's own (kind, path).
type HealthCheck struct {
	Kind                 string        // "http", "https" or "tcp"; default from the endpoint scheme (tcp://host:port → tcp)
	Path                 string        // HTTP path+query to GET instead of the endpoint URL's own
	StatusMin, StatusMax int           // expected status range, default 200..399
	Body                 string        // substring the body must contain ("" = any)
	CAFile               string        // PEM CA bundle for https instead of the system roots
	ServerName           string        // TLS SNI / certificate name override
	Host                 string        // HTTP Host header override
	Interval             time.Duration // 0 = server default (HEALTH_CHECK_INTERVAL)
	Timeout              time.Duration // 0 = default: min(5s, interval/3)
	Fall                 int           // failures before down; 0 = server default (FAILOVER_THRESHOLD)
	Rise                 int           // successes before up again; 0 = default 2
}

// LatLon is a point on the globe in degrees.
type LatLon struct {
	Latitude  float64
	Longitude float64
}

// ServiceRegions returns the regions a service balances over, in stable
// order; regions named by the service but missing from the set are skipped.
func (s *Set) ServiceRegions(svc *Service) []*Region {
	names := svc.Regions
	if len(names) == 0 {
		names = s.RegionNames
	}
	out := make([]*Region, 0, len(names))
	for _, n := range names {
		if r := s.Regions[n]; r != nil {
			out = append(out, r)
		}
	}
	return out
}

// sortZones orders zones longest origin first (then by name) for Find.
func sortZones(zs []*Zone) {
	sort.Slice(zs, func(i, j int) bool {
		li, lj := dns.CountLabel(zs[i].Origin), dns.CountLabel(zs[j].Origin)
		if li != lj {
			return li > lj
		}
		return strings.Compare(zs[i].Origin, zs[j].Origin) < 0
	})
}
