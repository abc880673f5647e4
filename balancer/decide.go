package balancer

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/geodns/geodns/geo"
	"github.com/geodns/geodns/zones"
)

// Client is who asked: the address the decision may use (the EDNS Client
// Subnet address, else the packet source; invalid when neither may be
// used) and what the GeoIP database says of it.
type Client struct {
	Addr netip.Addr
	// Loc is the database's answer for Addr; Located says it has data.
	// Loc.Network is set whenever a database was consulted.
	Loc     geo.Location
	Located bool
}

// Rule names the step of a strategy that chose the first region.
type Rule string

// The rules a Decision can report.
const (
	RuleRotation  Rule = "rotation"   // round robin turn
	RuleWeight    Rule = "weight"     // weighted draw
	RuleLatency   Rule = "latency"    // lowest measured latency
	RuleNets      Rule = "nets"       // network override
	RuleCountry   Rule = "country"    // region serves the client's country
	RuleContinent Rule = "continent"  // region serves the client's continent
	RuleNearest   Rule = "nearest"    // nearest region by great-circle distance
	RuleDefault   Rule = "default"    // nothing else decided
	RuleFallback  Rule = "fallback"   // the service's fallback order
	RuleBackup    Rule = "backup"     // every region down: the service's backup
	RuleNone      Rule = "no-regions" // the service has no regions at all
)

// Decision is the balancer's answer for one query.
type Decision struct {
	Strategy Strategy
	Rule     Rule
	// Regions to answer with, best first.
	Regions []*zones.Region
	// Scope is the ECS scope prefix length: how much of the client address
	// the decision depended on (0: not at all).
	Scope int
	// Override is the network override that matched (RuleNets).
	Override netip.Prefix
	// Down lists the candidate regions skipped because they are down.
	Down []string
	// FailOpen is set when every candidate was down and the decision
	// answered as if all were up.
	FailOpen bool
	// Moved lists manual failovers that replaced a chosen region.
	Moved []Move
}

// Move is one manual failover applied to a decision.
type Move struct {
	From, To string
}

// Explain renders the decision for people (zone resolve, API, logs).
func (d Decision) Explain() string {
	var b strings.Builder
	names := make([]string, len(d.Regions))
	for i, r := range d.Regions {
		names[i] = r.Name
	}
	fmt.Fprintf(&b, "strategy %s chose [%s] by rule %s", d.Strategy, strings.Join(names, ", "), d.Rule)
	if d.Rule == RuleNets {
		fmt.Fprintf(&b, " (%s)", d.Override)
	}
	if len(d.Down) > 0 {
		fmt.Fprintf(&b, "; skipped down regions [%s]", strings.Join(d.Down, ", "))
	}
	if d.Rule == RuleBackup {
		b.WriteString("; every region of the service is down, so its backup region answers")
	}
	if d.FailOpen {
		b.WriteString("; every region is down, so the answer fails open and includes down regions")
	}
	for _, m := range d.Moved {
		fmt.Fprintf(&b, "; manual failover moved %s to %s", m.From, m.To)
	}
	fmt.Fprintf(&b, "; ECS scope /%d", d.Scope)
	return b.String()
}

// Decide picks the regions for one answer to svc for client c. The
// Regions of the decision are shared: callers must not modify them.
func (s *Snapshot) Decide(svc *zones.Service, c Client) Decision {
	strategy := s.Strategy(svc)
	key := memoKey{svc: svc, network: c.Loc.Network}
	memo := s.memo != nil && strategy == Geo && len(svc.Nets) == 0 && key.network.IsValid()
	if memo {
		if d, ok := s.memo.get(key); ok {
			return d
		}
	}
	d, drawn := s.decide(svc, c, strategy)
	if memo && !drawn && !d.FailOpen {
		s.memo.put(key, d)
	}
	return d
}

// decide is Decide without the memo; drawn reports that a rotation or
// weighted draw chose among regions, so the next client of the same
// network may get another answer.
func (s *Snapshot) decide(svc *zones.Service, c Client, strategy Strategy) (d Decision, drawn bool) {
	d.Strategy = strategy
	all := s.Zones.ServiceRegions(svc)
	if len(all) == 0 {
		d.Rule = RuleNone
		return d, false
	}
	var buf [16]*zones.Region // most services have fewer regions: no allocation
	cands := buf[:0]
	for _, r := range all {
		if s.down(r.Name) {
			d.Down = append(d.Down, r.Name)
			continue
		}
		cands = append(cands, r)
	}
	if len(cands) == 0 {
		if backup := s.Zones.Regions[svc.Backup]; backup != nil && s.Admin[backup.Name] != ForceDown {
			d.Rule, d.Regions = RuleBackup, []*zones.Region{backup}
			return s.applyFailovers(d), false
		}
		cands = all
		d.FailOpen = true
		if s.stats != nil {
			s.stats.FailOpen.Add(1)
		}
	}
	n := max(svc.Answers, 1)
	n = min(n, len(cands))
	switch d.Strategy {
	case Weighted:
		drawn = true
		d.Rule = RuleWeight
		d.Regions = weightedOrder(cands, s.counter(svc).Add(1), n)
	case LeastLatency:
		drawn = true
		d.Rule, d.Regions = s.leastLatency(cands, svc, n)
	case Geo:
		drawn = s.geo(&d, svc, cands, c, n)
	default:
		drawn = true
		d.Rule = RuleRotation
		d.Regions = rotate(cands, s.counter(svc).Add(1), n)
	}
	return s.applyFailovers(d), drawn
}

// rotate returns n regions starting at the turn-th position.
func rotate(cands []*zones.Region, turn uint64, n int) []*zones.Region {
	out := make([]*zones.Region, n)
	start := int((turn - 1) % uint64(len(cands)))
	for i := range out {
		out[i] = cands[(start+i)%len(cands)]
	}
	return out
}

// invPhi drives a Weyl sequence: frac(turn/φ) spreads consecutive turns
// evenly over [0,1), so weighted draws match their weights closely after
// few queries without randomness or shared mutable state beyond one counter.
const invPhi = 0.6180339887498949

// weightedOrder draws the first region by weight, then fills the answer
// with the remaining regions by decreasing weight. Regions of weight 0 are
// drained: they are chosen only when every candidate has weight 0.
func weightedOrder(cands []*zones.Region, turn uint64, n int) []*zones.Region {
	var total float64
	for _, r := range cands {
		total += r.Weight
	}
	out := make([]*zones.Region, 0, n)
	if total <= 0 {
		return rotate(cands, turn, n)
	}
	_, frac := math.Modf(float64(turn) * invPhi)
	x := frac * total
	first := -1
	for i, r := range cands {
		if r.Weight <= 0 {
			continue
		}
		first = i
		if x < r.Weight {
			break
		}
		x -= r.Weight
	}
	out = append(out, cands[first])
	if n == 1 {
		return out
	}
	rest := make([]*zones.Region, 0, len(cands)-1)
	for i, r := range cands {
		if i != first && r.Weight > 0 {
			rest = append(rest, r)
		}
	}
	slices.SortStableFunc(rest, func(a, b *zones.Region) int { return cmp.Compare(b.Weight, a.Weight) })
	return append(out, rest[:min(n-1, len(rest))]...)
}

func (s *Snapshot) leastLatency(cands []*zones.Region, svc *zones.Service, n int) (Rule, []*zones.Region) {
	measured := make([]*zones.Region, 0, len(cands))
	for _, r := range cands {
		if s.Health[r.Name].Latency > 0 {
			measured = append(measured, r)
		}
	}
	if len(measured) == 0 {
		return RuleRotation, rotate(cands, s.counter(svc).Add(1), n)
	}
	slices.SortStableFunc(measured, func(a, b *zones.Region) int {
		return cmp.Compare(s.Health[a.Name].Latency, s.Health[b.Name].Latency)
	})
	for _, r := range cands {
		if len(measured) >= n {
			break
		}
		if s.Health[r.Name].Latency == 0 {
			measured = append(measured, r)
		}
	}
	return RuleLatency, measured[:n]
}

// geo ranks the candidates for the client: override, then explicit
// country or continent targeting, then distance, then the default.
func (s *Snapshot) geo(d *Decision, svc *zones.Service, cands []*zones.Region, c Client, n int) (drawn bool) {
	order := make([]*zones.Region, 0, len(cands))
	geoScope := 0
	if c.Loc.Network.IsValid() {
		geoScope = c.Loc.Network.Bits()
	}
	d.Scope = geoScope
	if c.Addr.IsValid() {
		for _, o := range svc.Nets {
			if !o.Prefix.Contains(c.Addr) {
				continue
			}
			if r := pick(cands, o.Region); r != nil {
				d.Rule, d.Override, d.Scope = RuleNets, o.Prefix, o.Prefix.Bits()
				if n > 1 {
					// The regions after the override are ranked by the
					// client's location, so the answer depends on the
					// database network as well.
					d.Scope = max(d.Scope, geoScope)
				}
				order = append(order, r)
				break
			}
		}
		d.Scope = narrowScope(svc.Nets, c.Addr, d.Scope)
	}
	if c.Located {
		var buf [8]*zones.Region
		qualified := buf[:0]
		rule := RuleCountry
		if c.Loc.Country != "" {
			qualified = serving(qualified, cands, func(r *zones.Region) []string { return r.Countries }, c.Loc.Country)
		}
		if len(qualified) == 0 && c.Loc.Continent != "" {
			rule = RuleContinent
			qualified = serving(qualified, cands, func(r *zones.Region) []string { return r.Continents }, c.Loc.Continent)
		}
		if len(qualified) > 0 {
			if d.Rule == "" {
				d.Rule = rule
			}
			turn := s.counter(svc).Add(1)
			drawn = len(qualified) > 1
			if len(qualified) == 1 {
				order = appendNew(order, qualified[0])
			} else {
				for _, r := range weightedOrder(qualified, turn, len(qualified)) {
					order = appendNew(order, r)
				}
			}
		}
		order = fallbacks(d, svc, cands, order)
		// Distance only ranks what comes after the answer once the answer
		// and its rule are settled: skip the trigonometry then.
		if c.Loc.HasCoordinates && (len(order) < n || d.Rule == "") {
			byDistance := nearestFirst(c.Loc, cands)
			if d.Rule == "" && byDistance[0].Location != nil {
				d.Rule = RuleNearest
			}
			for _, r := range byDistance {
				if r.Location == nil {
					break // no distance to rank by: the default comes first
				}
				order = appendNew(order, r)
			}
		}
	}
	if def := pick(cands, svc.Default); def != nil {
		order = appendNew(order, def)
	}
	order = fallbacks(d, svc, cands, order)
	if d.Rule == "" {
		d.Rule = RuleDefault
	}
	for _, r := range cands {
		order = appendNew(order, r)
	}
	d.Regions = order[:n]
	return drawn
}

// fallbacks appends the service's configured fallback order: where the
// regions serving the client are down, these come before distance.
func fallbacks(d *Decision, svc *zones.Service, cands, order []*zones.Region) []*zones.Region {
	for _, name := range svc.Fallback {
		if r := pick(cands, name); r != nil {
			if d.Rule == "" && len(order) == 0 {
				d.Rule = RuleFallback
			}
			order = appendNew(order, r)
		}
	}
	return order
}

// narrowScope lengthens scope so that no network override inside the
// client's scope network is claimed by an answer that did not use it.
func narrowScope(nets []zones.NetOverride, addr netip.Addr, scope int) int {
	around, err := addr.Prefix(scope)
	if err != nil {
		return scope
	}
	for _, o := range nets {
		if o.Prefix.Bits() > scope && around.Overlaps(o.Prefix) {
			scope = max(scope, o.Prefix.Bits())
		}
	}
	return scope
}

func pick(cands []*zones.Region, name string) *zones.Region {
	for _, r := range cands {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// serving appends to out the candidates whose codes hold code.
func serving(out, cands []*zones.Region, codes func(*zones.Region) []string, code string) []*zones.Region {
	for _, r := range cands {
		if slices.Contains(codes(r), code) {
			out = append(out, r)
		}
	}
	return out
}

func appendNew(order []*zones.Region, r *zones.Region) []*zones.Region {
	if slices.Contains(order, r) {
		return order
	}
	return append(order, r)
}

// nearestFirst orders cands by distance from loc, nearest first; equal
// distances keep their order.
func nearestFirst(loc geo.Location, cands []*zones.Region) []*zones.Region {
	type ranked struct {
		r *zones.Region
		d float64
	}
	rs := make([]ranked, len(cands))
	for i, r := range cands {
		rs[i] = ranked{r, distance(loc, r.Location)}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int { return cmp.Compare(a.d, b.d) })
	out := make([]*zones.Region, len(rs))
	for i := range rs {
		out[i] = rs[i].r
	}
	return out
}

const earthRadiusKm = 6371.0

// distance is the great-circle distance in km (haversine); regions
// without a location are infinitely far.
func distance(from geo.Location, to *zones.LatLon) float64 {
	if to == nil {
		return math.Inf(1)
	}
	rad := func(deg float64) float64 { return deg * math.Pi / 180 }
	lat1, lat2 := rad(from.Latitude), rad(to.Latitude)
	dLat, dLon := lat2-lat1, rad(to.Longitude-from.Longitude)
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1)*math.Cos(lat2)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(h)))
}
