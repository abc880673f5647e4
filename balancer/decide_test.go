package balancer

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/geo"
	"github.com/geodns/geodns/zones"
)

// shareTolerance is how far a region's observed share of decisions may be
// from its expected (weight) share: ±1 percentage point, absolute. The Weyl
// sequence is far better than that over 10,000 draws; the tolerance only
// keeps the tests from pinning its exact discrepancy.
const shareTolerance = 0.01

// draws is the number of decisions the share tests make.
const draws = 10_000

// Points on the globe used by the geo tests.
var (
	frankfurt    = &zones.LatLon{Latitude: 50.1109, Longitude: 8.6821}
	virginia     = &zones.LatLon{Latitude: 39.0438, Longitude: -77.4874} // Ashburn
	dublin       = &zones.LatLon{Latitude: 53.3498, Longitude: -6.2603}
	singapore    = &zones.LatLon{Latitude: 1.3521, Longitude: 103.8198}
	saoPaulo     = &zones.LatLon{Latitude: -23.5505, Longitude: -46.6333}
	tokyo        = &zones.LatLon{Latitude: 35.6762, Longitude: 139.6503}
	berlin       = &zones.LatLon{Latitude: 52.5200, Longitude: 13.4050}
	paris        = &zones.LatLon{Latitude: 48.8566, Longitude: 2.3522}
	buenosAires  = &zones.LatLon{Latitude: -34.6037, Longitude: -58.3816}
	testZoneName = "example.test."
)

// newSet builds a zones.Set by hand: one zone whose node carries svc, and
// the given regions (RegionNames sorted, as the loader does).
func newSet(svc *zones.Service, regions []*zones.Region) *zones.Set {
	set := &zones.Set{Regions: make(map[string]*zones.Region, len(regions))}
	for _, r := range regions {
		set.Regions[r.Name] = r
		set.RegionNames = append(set.RegionNames, r.Name)
	}
	sort.Strings(set.RegionNames)
	set.Zones = []*zones.Zone{{
		Origin: testZoneName,
		Nodes: map[string]*zones.Node{
			testZoneName: {Name: testZoneName}, // the apex: records, no service
			svc.Name:     {Name: svc.Name, Service: svc},
		},
	}}
	return set
}

// newSnapshot publishes a snapshot through a Store, so the service has its
// rotation counter exactly as in the server.
func newSnapshot(t testing.TB, def Strategy, svc *zones.Service, regions []*zones.Region, health HealthView) *Snapshot {
	t.Helper()
	return NewStore(&Snapshot{Zones: newSet(svc, regions), DefaultStrategy: def, Health: health}).Load()
}

func service(strategy Strategy, answers int) *zones.Service {
	return &zones.Service{Name: "www." + testZoneName, Strategy: string(strategy), TTL: 30, Answers: answers}
}

// plain returns regions named names, weight 1, no location.
func plain(names ...string) []*zones.Region {
	out := make([]*zones.Region, len(names))
	for i, n := range names {
		out[i] = &zones.Region{Name: n, Weight: 1}
	}
	return out
}

// weighted returns regions r0, r1, ... with the given weights.
func weightedRegions(weights ...float64) []*zones.Region {
	out := make([]*zones.Region, len(weights))
	for i, w := range weights {
		out[i] = &zones.Region{Name: fmt.Sprintf("r%d", i), Weight: w}
	}
	return out
}

// down marks the named regions down.
func down(names ...string) HealthView {
	h := HealthView{}
	for _, n := range names {
		h[n] = RegionHealth{Down: true, Reason: "test"}
	}
	return h
}

func names(rs []*zones.Region) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// firstCounts makes n decisions and counts the first region of each.
func firstCounts(t testing.TB, snap *Snapshot, svc *zones.Service, c Client, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		d := snap.Decide(svc, c)
		require.NotEmpty(t, d.Regions)
		counts[d.Regions[0].Name]++
	}
	return counts
}

// requireShares checks each region's share of total against want (which
// need not be normalised) within shareTolerance; regions of share 0 must
// never appear.
func requireShares(t *testing.T, counts map[string]int, total int, want map[string]float64) {
	t.Helper()
	var sum float64
	for _, w := range want {
		sum += w
	}
	for name := range counts {
		require.Contains(t, want, name, "unexpected region %s chosen", name)
	}
	for name, w := range want {
		exp := w / sum
		got := float64(counts[name]) / float64(total)
		if exp == 0 {
			require.Zero(t, counts[name], "drained region %s chosen", name)
			continue
		}
		t.Logf("%s: share %.4f, want %.4f (off by %+.4f)", name, got, exp, got-exp)
		require.InDelta(t, exp, got, shareTolerance, "region %s: share %.4f, want %.4f ±%.2f", name, got, exp, shareTolerance)
	}
}

func TestRoundRobin(t *testing.T) {
	tests := []struct {
		name    string
		regions []string
		down    []string
		answers int
		// cycle is the sequence of answers that repeats, decision i
		// getting cycle[i%len(cycle)].
		cycle    [][]string
		decision int
		counts   map[string]int
	}{
		{
			name:     "three regions rotate evenly in order",
			regions:  []string{"a", "b", "c"},
			cycle:    [][]string{{"a"}, {"b"}, {"c"}},
			decision: 300,
			counts:   map[string]int{"a": 100, "b": 100, "c": 100},
		},
		{
			name:     "answers 2 gives consecutive pairs",
			regions:  []string{"a", "b", "c"},
			answers:  2,
			cycle:    [][]string{{"a", "b"}, {"b", "c"}, {"c", "a"}},
			decision: 300,
			counts:   map[string]int{"a": 100, "b": 100, "c": 100},
		},
		{
			name:     "answers above region count is capped",
			regions:  []string{"a", "b"},
			answers:  5,
			cycle:    [][]string{{"a", "b"}, {"b", "a"}},
			decision: 10,
			counts:   map[string]int{"a": 5, "b": 5},
		},
		{
			name:     "down region skipped and its share spread exactly",
			regions:  []string{"a", "b", "c"},
			down:     []string{"b"},
			cycle:    [][]string{{"a"}, {"c"}},
			decision: 300,
			counts:   map[string]int{"a": 150, "c": 150},
		},
		{
			name:     "down region skipped with four regions",
			regions:  []string{"a", "b", "c", "d"},
			down:     []string{"a"},
			cycle:    [][]string{{"b"}, {"c"}, {"d"}},
			decision: 300,
			counts:   map[string]int{"b": 100, "c": 100, "d": 100},
		},
		{
			name:     "single region",
			regions:  []string{"only"},
			cycle:    [][]string{{"only"}},
			decision: 10,
			counts:   map[string]int{"only": 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service(RoundRobin, tt.answers)
			snap := newSnapshot(t, Geo, svc, plain(tt.regions...), down(tt.down...))
			counts := map[string]int{}
			for i := range tt.decision {
				d := snap.Decide(svc, Client{Addr: netip.MustParseAddr("192.0.2.1")})
				require.Equal(t, RoundRobin, d.Strategy)
				require.Equal(t, RuleRotation, d.Rule)
				require.Equal(t, tt.cycle[i%len(tt.cycle)], names(d.Regions), "decision %d", i)
				require.Zero(t, d.Scope, "round robin does not depend on the client")
				require.Equal(t, tt.down, d.Down)
				require.False(t, d.FailOpen)
				counts[d.Regions[0].Name]++
			}
			require.Equal(t, tt.counts, counts)
		})
	}
}

func TestWeightedShares(t *testing.T) {
	tests := []struct {
		name    string
		weights []float64
		down    []string
		// want is the expected share by region (unnormalised).
		want map[string]float64
	}{
		{
			name:    "3 to 1",
			weights: []float64{3, 1},
			want:    map[string]float64{"r0": 3, "r1": 1},
		},
		{
			name:    "float weights 0.5 1.5 2.0",
			weights: []float64{0.5, 1.5, 2.0},
			want:    map[string]float64{"r0": 0.5, "r1": 1.5, "r2": 2.0},
		},
		{
			name:    "weight 0 is never chosen",
			weights: []float64{2, 0, 1},
			want:    map[string]float64{"r0": 2, "r1": 0, "r2": 1},
		},
		{
			name:    "down region excluded and shares renormalised",
			weights: []float64{3, 1, 4},
			down:    []string{"r2"},
			want:    map[string]float64{"r0": 3, "r1": 1, "r2": 0},
		},
		{
			name:    "many regions",
			weights: []float64{1, 2, 3, 4, 10},
			want:    map[string]float64{"r0": 1, "r1": 2, "r2": 3, "r3": 4, "r4": 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service(Weighted, 1)
			snap := newSnapshot(t, RoundRobin, svc, weightedRegions(tt.weights...), down(tt.down...))
			d := snap.Decide(svc, Client{})
			require.Equal(t, RuleWeight, d.Rule)
			require.Equal(t, tt.down, d.Down)
			require.Zero(t, d.Scope)
			counts := firstCounts(t, snap, svc, Client{}, draws)
			counts[d.Regions[0].Name]++
			requireShares(t, counts, draws+1, tt.want)
		})
	}
}

func TestWeightedAllZeroRotatesEvenly(t *testing.T) {
	svc := service(Weighted, 1)
	snap := newSnapshot(t, RoundRobin, svc, weightedRegions(0, 0, 0), nil)
	for i := range 300 {
		d := snap.Decide(svc, Client{})
		require.Equal(t, RuleWeight, d.Rule)
		require.Equal(t, []string{fmt.Sprintf("r%d", i%3)}, names(d.Regions), "decision %d", i)
	}
}

func TestWeightedAnswers(t *testing.T) {
	tests := []struct {
		name    string
		weights []float64
		down    []string
		answers int
		// want lists the acceptable answers; every one must occur.
		want [][]string
	}{
		{
			name:    "answers 2 of 3,1: two distinct regions",
			weights: []float64{3, 1},
			answers: 2,
			want:    [][]string{{"r0", "r1"}, {"r1", "r0"}},
		},
		{
			name:    "answers 2 fills with the heaviest remaining region",
			weights: []float64{1, 2, 3},
			answers: 2,
			want:    [][]string{{"r0", "r2"}, {"r1", "r2"}, {"r2", "r1"}},
		},
		{
			name:    "answers 3 never includes a drained region",
			weights: []float64{1, 0, 3},
			answers: 3,
			want:    [][]string{{"r0", "r2"}, {"r2", "r0"}},
		},
		{
			name:    "answers 2 skips a down region",
			weights: []float64{1, 5, 3},
			down:    []string{"r1"},
			answers: 2,
			want:    [][]string{{"r0", "r2"}, {"r2", "r0"}},
		},
		{
			name:    "answers 2 all weights 0: consecutive pairs",
			weights: []float64{0, 0, 0},
			answers: 2,
			want:    [][]string{{"r0", "r1"}, {"r1", "r2"}, {"r2", "r0"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service(Weighted, tt.answers)
			snap := newSnapshot(t, RoundRobin, svc, weightedRegions(tt.weights...), down(tt.down...))
			seen := map[string]bool{}
			for range 1000 {
				got := names(snap.Decide(svc, Client{}).Regions)
				require.Contains(t, tt.want, got)
				require.Len(t, got, len(slices.Compact(slices.Sorted(slices.Values(got)))), "duplicate region in %v", got)
				seen[fmt.Sprint(got)] = true
			}
			require.Len(t, seen, len(tt.want), "every acceptable answer occurs")
		})
	}
}

func TestWeightedSequenceIsDeterministic(t *testing.T) {
	// Two stores fed the same decisions give the same sequence: the draw
	// depends on the counter only, not on randomness.
	svc1, svc2 := service(Weighted, 1), service(Weighted, 1)
	a := newSnapshot(t, RoundRobin, svc1, weightedRegions(1, 2, 3), nil)
	b := newSnapshot(t, RoundRobin, svc2, weightedRegions(1, 2, 3), nil)
	for i := range 200 {
		require.Equal(t, names(a.Decide(svc1, Client{}).Regions), names(b.Decide(svc2, Client{}).Regions), "decision %d", i)
	}
}

func TestLeastLatency(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		health  HealthView
		answers int
		// cycle repeats as in TestRoundRobin.
		cycle    [][]string
		rule     Rule
		wantDown []string
	}{
		{
			name:  "none measured: rotation",
			cycle: [][]string{{"a"}, {"b"}, {"c"}},
			rule:  RuleRotation,
		},
		{
			name:    "none measured answers 2: consecutive pairs",
			answers: 2,
			cycle:   [][]string{{"a", "b"}, {"b", "c"}, {"c", "a"}},
			rule:    RuleRotation,
		},
		{
			name:   "measured: lowest latency",
			health: HealthView{"a": {Latency: 50 * ms}, "b": {Latency: 10 * ms}, "c": {Latency: 30 * ms}},
			cycle:  [][]string{{"b"}},
			rule:   RuleLatency,
		},
		{
			name:    "measured answers 3: by increasing latency",
			health:  HealthView{"a": {Latency: 50 * ms}, "b": {Latency: 10 * ms}, "c": {Latency: 30 * ms}},
			answers: 3,
			cycle:   [][]string{{"b", "c", "a"}},
			rule:    RuleLatency,
		},
		{
			name:    "partly measured: measured first, then unmeasured",
			health:  HealthView{"c": {Latency: 20 * ms}},
			answers: 2,
			cycle:   [][]string{{"c", "a"}},
			rule:    RuleLatency,
		},
		{
			name:     "down region with lowest latency skipped",
			health:   HealthView{"a": {Latency: 50 * ms}, "b": {Latency: 1 * ms, Down: true}, "c": {Latency: 30 * ms}},
			cycle:    [][]string{{"c"}},
			rule:     RuleLatency,
			wantDown: []string{"b"},
		},
		{
			name:     "only measured region down: rotation over the rest",
			health:   HealthView{"b": {Latency: 1 * ms, Down: true}},
			cycle:    [][]string{{"a"}, {"c"}},
			rule:     RuleRotation,
			wantDown: []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service(LeastLatency, tt.answers)
			snap := newSnapshot(t, RoundRobin, svc, plain("a", "b", "c"), tt.health)
			for i := range 30 {
				d := snap.Decide(svc, Client{})
				require.Equal(t, LeastLatency, d.Strategy)
				require.Equal(t, tt.rule, d.Rule)
				require.Equal(t, tt.cycle[i%len(tt.cycle)], names(d.Regions), "decision %d", i)
				require.Equal(t, tt.wantDown, d.Down)
				require.Zero(t, d.Scope)
			}
		})
	}
}

// world is the region set of the geo tests, one region per continent
// except Europe, which has two.
func world() []*zones.Region {
	return []*zones.Region{
		{Name: "us-east", Weight: 1, Location: virginia, Countries: []string{"US", "CA"}},
		{Name: "eu-central", Weight: 3, Location: frankfurt, Countries: []string{"DE"}, Continents: []string{"EU"}},
		{Name: "eu-west", Weight: 1, Location: dublin, Continents: []string{"EU"}},
		{Name: "sa-east", Weight: 1, Location: saoPaulo, Continents: []string{"SA"}},
		{Name: "ap-southeast", Weight: 1, Location: singapore}, // serves no country or continent explicitly
	}
}

// located is a client the database has data for.
func located(addr, network, country, continent string, at *zones.LatLon) Client {
	return Client{
		Addr: netip.MustParseAddr(addr),
		Loc: geo.Location{
			Continent: continent, Country: country,
			Latitude: at.Latitude, Longitude: at.Longitude, HasCoordinates: true,
			Network: netip.MustParsePrefix(network),
		},
		Located: true,
	}
}

// nets builds overrides sorted most specific first, as the zone loader
// leaves them.
func nets(pairs ...string) []zones.NetOverride {
	var out []zones.NetOverride
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, zones.NetOverride{Prefix: netip.MustParsePrefix(pairs[i]), Region: pairs[i+1]})
	}
	slices.SortStableFunc(out, func(a, b zones.NetOverride) int { return b.Prefix.Bits() - a.Prefix.Bits() })
	return out
}

func TestGeo(t *testing.T) {
	var (
		berlinClient = located("192.0.2.10", "192.0.2.0/24", "DE", "EU", berlin)
		tokyoClient  = located("203.0.113.7", "203.0.113.0/24", "JP", "AS", tokyo)
		baClient     = located("198.18.0.9", "198.18.0.0/24", "AR", "SA", buenosAires)
		// nested overrides, given out of order: nets sorts them.
		nested = nets(
			"198.51.0.0/16", "sa-east",
			"198.51.100.0/24", "us-east",
			"198.51.100.128/25", "ap-southeast",
		)
	)
	tests := []struct {
		name     string
		regions  []string // service regions; nil = all of world()
		nets     []zones.NetOverride
		def      string
		answers  int
		down     []string
		client   Client
		want     []string
		rule     Rule
		scope    int
		override string
	}{
		{
			name:   "country served explicitly",
			client: berlinClient,
			want:   []string{"eu-central"}, rule: RuleCountry, scope: 24,
		},
		{
			name:    "country then nearest for answers 2",
			client:  berlinClient,
			answers: 2,
			want:    []string{"eu-central", "eu-west"}, rule: RuleCountry, scope: 24,
		},
		{
			name:   "country region down: continent",
			client: berlinClient,
			down:   []string{"eu-central"},
			want:   []string{"eu-west"}, rule: RuleContinent, scope: 24,
		},
		{
			name:   "continent targeting",
			client: baClient,
			want:   []string{"sa-east"}, rule: RuleContinent, scope: 24,
		},
		{
			name:   "nearest when nothing targets the client",
			client: tokyoClient,
			want:   []string{"ap-southeast"}, rule: RuleNearest, scope: 24,
		},
		{
			name:    "Tokyo over Virginia and Frankfurt",
			regions: []string{"us-east", "eu-central", "ap-southeast"},
			client:  tokyoClient,
			want:    []string{"ap-southeast"}, rule: RuleNearest, scope: 24,
		},
		{
			name:    "answers 2: nearest then second nearest",
			client:  tokyoClient,
			answers: 2,
			want:    []string{"ap-southeast", "eu-central"}, rule: RuleNearest, scope: 24,
		},
		{
			name:    "answers 5: every region, by distance",
			client:  tokyoClient,
			answers: 5,
			want:    []string{"ap-southeast", "eu-central", "eu-west", "us-east", "sa-east"}, rule: RuleNearest, scope: 24,
		},
		{
			name:   "nearest down: next nearest",
			client: tokyoClient,
			down:   []string{"ap-southeast"},
			want:   []string{"eu-central"}, rule: RuleNearest, scope: 24,
		},
		{
			name:   "/16 geo network: scope 16",
			client: located("10.20.30.40", "10.20.0.0/16", "DE", "EU", berlin),
			want:   []string{"eu-central"}, rule: RuleCountry, scope: 16,
		},
		{
			name:   "IPv6 client: scope of its /48",
			client: located("2001:db8:1:2::1", "2001:db8:1::/48", "JP", "AS", tokyo),
			want:   []string{"ap-southeast"}, rule: RuleNearest, scope: 48,
		},
		{
			name:   "unlocated client without database: default, scope 0",
			def:    "eu-west",
			client: Client{Addr: netip.MustParseAddr("192.0.2.10")},
			want:   []string{"eu-west"}, rule: RuleDefault, scope: 0,
		},
		{
			name:   "no client address: default, scope 0",
			def:    "eu-west",
			nets:   nets("10.0.0.0/8", "us-east"),
			client: Client{},
			want:   []string{"eu-west"}, rule: RuleDefault, scope: 0,
		},
		{
			name: "database has no data: default, scope of its network",
			def:  "eu-west",
			client: Client{
				Addr: netip.MustParseAddr("10.1.2.3"),
				Loc:  geo.Location{Network: netip.MustParsePrefix("10.1.0.0/16")},
			},
			want: []string{"eu-west"}, rule: RuleDefault, scope: 16,
		},
		{
			name: "located without coordinates or targeting: default",
			def:  "us-east",
			client: Client{
				Addr:    netip.MustParseAddr("203.0.113.7"),
				Loc:     geo.Location{Country: "JP", Continent: "AS", Network: netip.MustParsePrefix("203.0.113.0/24")},
				Located: true,
			},
			want: []string{"us-east"}, rule: RuleDefault, scope: 24,
		},
		{
			name:    "no default: first region of the service",
			regions: []string{"us-east", "eu-west"},
			client:  Client{Addr: netip.MustParseAddr("192.0.2.10")},
			want:    []string{"us-east"}, rule: RuleDefault,
		},
		{
			name:    "default down: next candidate",
			regions: []string{"us-east", "eu-west", "sa-east"},
			def:     "eu-west",
			down:    []string{"eu-west"},
			client:  Client{Addr: netip.MustParseAddr("192.0.2.10")},
			want:    []string{"us-east"}, rule: RuleDefault,
		},
		{
			name:    "unlocated answers 2: default then service order",
			regions: []string{"us-east", "eu-west", "sa-east"},
			def:     "sa-east",
			answers: 2,
			client:  Client{Addr: netip.MustParseAddr("192.0.2.10")},
			want:    []string{"sa-east", "us-east"}, rule: RuleDefault,
		},
		{
			name:   "override beats GeoIP, scope is the override's",
			nets:   nets("10.0.0.0/8", "us-east"),
			client: located("10.1.2.3", "10.1.2.0/24", "DE", "EU", berlin),
			want:   []string{"us-east"}, rule: RuleNets, scope: 8, override: "10.0.0.0/8",
		},
		{
			name:   "override applies to an unlocated client",
			nets:   nets("10.0.0.0/8", "us-east"),
			def:    "eu-west",
			client: Client{Addr: netip.MustParseAddr("10.1.2.3")},
			want:   []string{"us-east"}, rule: RuleNets, scope: 8, override: "10.0.0.0/8",
		},
		{
			name:   "most specific override wins",
			nets:   nested,
			client: located("198.51.100.200", "198.51.100.0/24", "DE", "EU", berlin),
			want:   []string{"ap-southeast"}, rule: RuleNets, scope: 25, override: "198.51.100.128/25",
		},
		{
			name: "less specific override with a nested one: scope narrowed to the nested",
			nets: nested,
			// 198.51.100.10 is outside the /25, so the /24 decides, but the
			// answer must not be cached for the /25 inside it.
			client: located("198.51.100.10", "198.51.100.0/24", "DE", "EU", berlin),
			want:   []string{"us-east"}, rule: RuleNets, scope: 25, override: "198.51.100.0/24",
		},
		{
			name:   "override region down: next matching override",
			nets:   nested,
			down:   []string{"ap-southeast"},
			client: located("198.51.100.200", "198.51.100.0/24", "DE", "EU", berlin),
			want:   []string{"us-east"}, rule: RuleNets, scope: 25, override: "198.51.100.0/24",
		},
		{
			name:   "all matching override regions down: GeoIP decides",
			nets:   nets("10.0.0.0/8", "us-east"),
			down:   []string{"us-east"},
			client: located("10.1.2.3", "10.1.2.0/24", "DE", "EU", berlin),
			want:   []string{"eu-central"}, rule: RuleCountry, scope: 24,
		},
		{
			name: "override inside the geo network raises the scope",
			nets: nets("203.0.113.0/26", "us-east"),
			// .77 is outside the /26, inside the /24 the database reports.
			client: located("203.0.113.77", "203.0.113.0/24", "DE", "EU", berlin),
			want:   []string{"eu-central"}, rule: RuleCountry, scope: 26,
		},
		{
			name: "geo network of the other family: scope kept, no panic",
			nets: nets("192.0.2.0/25", "us-east"),
			client: Client{
				Addr:    netip.MustParseAddr("192.0.2.200"),
				Loc:     geo.Location{Country: "DE", Continent: "EU", Network: netip.MustParsePrefix("2001:db8::/48")},
				Located: true,
			},
			want: []string{"eu-central"}, rule: RuleCountry, scope: 48,
		},
		{
			name:   "override elsewhere leaves the scope",
			nets:   nets("10.0.0.0/8", "us-east", "198.51.100.0/26", "sa-east"),
			client: berlinClient,
			want:   []string{"eu-central"}, rule: RuleCountry, scope: 24,
		},
		{
			name:   "IPv6 override does not touch an IPv4 client",
			nets:   nets("::/0", "us-east", "2001:db8::/32", "sa-east"),
			client: berlinClient,
			want:   []string{"eu-central"}, rule: RuleCountry, scope: 24,
		},
		{
			name:   "override to a region outside the service is ignored",
			nets:   nets("192.0.2.0/24", "sa-east"),
			client: berlinClient,
			// sa-east is not a service region, so the override has no
			// candidate; being as long as the geo network, it narrows nothing.
			regions: []string{"us-east", "eu-central", "eu-west"},
			want:    []string{"eu-central"}, rule: RuleCountry, scope: 24,
		},
		{
			name:    "override answers 2: override then the client's geo ranking",
			nets:    nets("10.0.0.0/8", "us-east"),
			answers: 2,
			client:  located("10.1.2.3", "10.1.2.0/24", "DE", "EU", berlin),
			// The second region depends on where the database puts the
			// client, so the scope covers the geo network too.
			want: []string{"us-east", "eu-central"}, rule: RuleNets, scope: 24, override: "10.0.0.0/8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service(Geo, tt.answers)
			svc.Regions, svc.Nets, svc.Default = tt.regions, tt.nets, tt.def
			snap := newSnapshot(t, RoundRobin, svc, world(), down(tt.down...))
			for range 3 { // geo ranks do not rotate
				d := snap.Decide(svc, tt.client)
				require.Equal(t, Geo, d.Strategy)
				require.Equal(t, tt.want, names(d.Regions))
				require.Equal(t, tt.rule, d.Rule)
				require.Equal(t, tt.scope, d.Scope, "ECS scope")
				if tt.override != "" {
					require.Equal(t, netip.MustParsePrefix(tt.override), d.Override)
				} else {
					require.False(t, d.Override.IsValid(), "no override: %v", d.Override)
				}
				require.Equal(t, tt.down, d.Down)
				require.False(t, d.FailOpen)
			}
		})
	}
}

func TestGeoContinentSplitByWeight(t *testing.T) {
	// A client in France: no region serves FR, two serve EU with weights 3
	// (eu-central) and 1 (eu-west).
	parisClient := located("192.0.2.80", "192.0.2.0/24", "FR", "EU", paris)
	svc := service(Geo, 1)
	snap := newSnapshot(t, RoundRobin, svc, world(), nil)
	d := snap.Decide(svc, parisClient)
	require.Equal(t, RuleContinent, d.Rule)
	require.Equal(t, 24, d.Scope)
	counts := firstCounts(t, snap, svc, parisClient, draws)
	counts[d.Regions[0].Name]++
	requireShares(t, counts, draws+1, map[string]float64{"eu-central": 3, "eu-west": 1})

	t.Run("answers 2: both European regions", func(t *testing.T) {
		svc := service(Geo, 2)
		snap := newSnapshot(t, RoundRobin, svc, world(), nil)
		seen := map[string]int{}
		for range 1000 {
			got := names(snap.Decide(svc, parisClient).Regions)
			require.Contains(t, [][]string{{"eu-central", "eu-west"}, {"eu-west", "eu-central"}}, got)
			seen[got[0]]++
		}
		require.InDelta(t, 0.75, float64(seen["eu-central"])/1000, shareTolerance)
	})

	t.Run("drained continent region falls back by distance", func(t *testing.T) {
		regions := world()
		regions[1].Weight = 0 // eu-central drained
		svc := service(Geo, 2)
		snap := newSnapshot(t, RoundRobin, svc, regions, nil)
		for range 100 {
			// eu-west by continent, then eu-central as the nearest other.
			require.Equal(t, []string{"eu-west", "eu-central"}, names(snap.Decide(svc, parisClient).Regions))
		}
	})
}

// TestGeoUnplacedRegions: regions without a location are not "nearest";
// a client nothing targets gets the default, then the located regions by
// distance, then the rest.
func TestGeoUnplacedRegions(t *testing.T) {
	regions := plain("a", "b", "def")
	regions[1].Location = frankfurt
	svc := service(Geo, 3)
	svc.Default = "def"
	snap := newSnapshot(t, RoundRobin, svc, regions, nil)
	d := snap.Decide(svc, located("203.0.113.7", "203.0.113.0/24", "JP", "AS", tokyo))
	require.Equal(t, []string{"b", "def", "a"}, names(d.Regions))
	require.Equal(t, RuleNearest, d.Rule)

	regions[1].Location = nil
	snap = newSnapshot(t, RoundRobin, svc, regions, nil)
	d = snap.Decide(svc, located("203.0.113.7", "203.0.113.0/24", "JP", "AS", tokyo))
	require.Equal(t, []string{"def", "a", "b"}, names(d.Regions))
	require.Equal(t, RuleDefault, d.Rule)
}

func TestFailOpen(t *testing.T) {
	all := []string{"a", "b", "c"}
	for _, st := range Strategies {
		t.Run(string(st), func(t *testing.T) {
			svc := service(st, 1)
			svc.Default = "b"
			regions := plain(all...)
			regions[0].Location = virginia
			snap := newSnapshot(t, RoundRobin, svc, regions, down(all...))
			seen := map[string]bool{}
			for range 30 {
				d := snap.Decide(svc, located("192.0.2.1", "192.0.2.0/24", "US", "NA", virginia))
				require.True(t, d.FailOpen)
				require.Equal(t, all, d.Down)
				require.Len(t, d.Regions, 1)
				require.Contains(t, all, d.Regions[0].Name)
				seen[d.Regions[0].Name] = true
				require.Contains(t, d.Explain(), "every region is down, so the answer fails open")
				require.Contains(t, d.Explain(), "skipped down regions [a, b, c]")
			}
			if st == RoundRobin || st == Weighted || st == LeastLatency {
				require.Len(t, seen, 3, "all regions considered")
			}
		})
	}

	t.Run("one region up: no fail open", func(t *testing.T) {
		svc := service(RoundRobin, 3)
		snap := newSnapshot(t, RoundRobin, svc, plain(all...), down("a", "c"))
		d := snap.Decide(svc, Client{})
		require.False(t, d.FailOpen)
		require.Equal(t, []string{"b"}, names(d.Regions))
		require.NotContains(t, d.Explain(), "fails open")
	})
}

func TestNoRegions(t *testing.T) {
	svc := service(RoundRobin, 1)
	svc.Regions = []string{"missing"}
	snap := newSnapshot(t, RoundRobin, svc, plain("a"), nil)
	d := snap.Decide(svc, Client{})
	require.Equal(t, RuleNone, d.Rule)
	require.Empty(t, d.Regions)
	require.False(t, d.FailOpen)
}

func TestExplain(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{
			name: "rotation",
			d:    Decision{Strategy: RoundRobin, Rule: RuleRotation, Regions: plain("a", "b")},
			want: "strategy round_robin chose [a, b] by rule rotation; ECS scope /0",
		},
		{
			name: "nets shows the override",
			d: Decision{Strategy: Geo, Rule: RuleNets, Regions: plain("a"), Scope: 8,
				Override: netip.MustParsePrefix("10.0.0.0/8")},
			want: "strategy geo chose [a] by rule nets (10.0.0.0/8); ECS scope /8",
		},
		{
			name: "down regions",
			d:    Decision{Strategy: Geo, Rule: RuleNearest, Regions: plain("a"), Scope: 24, Down: []string{"b", "c"}},
			want: "strategy geo chose [a] by rule nearest; skipped down regions [b, c]; ECS scope /24",
		},
		{
			name: "fail open",
			d:    Decision{Strategy: Weighted, Rule: RuleWeight, Regions: plain("a"), Down: []string{"a"}, FailOpen: true},
			want: "strategy weighted chose [a] by rule weight; skipped down regions [a]; every region is down, so the answer fails open and includes down regions; ECS scope /0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.d.Explain())
		})
	}
}

func TestDistance(t *testing.T) {
	at := func(p *zones.LatLon) geo.Location {
		return geo.Location{Latitude: p.Latitude, Longitude: p.Longitude, HasCoordinates: true}
	}
	tests := []struct {
		name     string
		from, to *zones.LatLon
		wantKm   float64
		relTol   float64 // relative tolerance
	}{
		{name: "Frankfurt to Virginia", from: frankfurt, to: virginia, wantKm: 6500, relTol: 0.01},
		{name: "Virginia to Frankfurt", from: virginia, to: frankfurt, wantKm: 6500, relTol: 0.01},
		{name: "Tokyo to Singapore", from: tokyo, to: singapore, wantKm: 5300, relTol: 0.01},
		{name: "same point", from: frankfurt, to: frankfurt, wantKm: 0},
		{name: "antipodes: half the circumference", from: &zones.LatLon{Latitude: 0, Longitude: 0},
			to: &zones.LatLon{Latitude: 0, Longitude: 180}, wantKm: math.Pi * earthRadiusKm, relTol: 1e-9},
		{name: "poles", from: &zones.LatLon{Latitude: 90}, to: &zones.LatLon{Latitude: -90, Longitude: 45},
			wantKm: math.Pi * earthRadiusKm, relTol: 1e-9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := distance(at(tt.from), tt.to)
			if tt.wantKm == 0 {
				require.Zero(t, got)
				return
			}
			require.InEpsilon(t, tt.wantKm, got, tt.relTol, "got %.1f km", got)
		})
	}
	t.Run("no location is infinitely far", func(t *testing.T) {
		require.True(t, math.IsInf(distance(at(tokyo), nil), 1))
	})
}

func BenchmarkDecide(b *testing.B) {
	berlinClient := located("192.0.2.10", "192.0.2.0/24", "DE", "EU", berlin)
	tokyoClient := located("203.0.113.7", "203.0.113.0/24", "JP", "AS", tokyo)
	benches := []struct {
		name     string
		strategy Strategy
		regions  []*zones.Region
		nets     []zones.NetOverride
		client   Client
	}{
		{name: "round_robin", strategy: RoundRobin, regions: world(), client: berlinClient},
		{name: "weighted", strategy: Weighted, regions: world(), client: berlinClient},
		{name: "least_latency", strategy: LeastLatency, regions: world(), client: berlinClient},
		{name: "geo_country", strategy: Geo, regions: world(), client: berlinClient},
		{name: "geo_nearest", strategy: Geo, regions: world(), client: tokyoClient,
			nets: nets("10.0.0.0/8", "us-east", "198.51.100.0/24", "sa-east")},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			svc := service(bb.strategy, 1)
			svc.Nets = bb.nets
			health := HealthView{"us-east": {Latency: 80 * time.Millisecond}, "eu-central": {Latency: 20 * time.Millisecond}}
			snap := newSnapshot(b, RoundRobin, svc, bb.regions, health)
			b.ReportAllocs()
			for b.Loop() {
				d := snap.Decide(svc, bb.client)
				if len(d.Regions) == 0 {
					b.Fatal("no regions")
				}
			}
		})
	}
}

// TestGeoMemo: decisions that depend only on the client's network are
// remembered per snapshot; draws, overrides and fail-open never are.
func TestGeoMemo(t *testing.T) {
	berlinClient := located("192.0.2.10", "192.0.2.0/24", "DE", "EU", berlin)
	parisClient := located("198.51.100.80", "198.51.100.0/24", "FR", "EU", paris)
	key := func(svc *zones.Service, c Client) memoKey { return memoKey{svc: svc, network: c.Loc.Network} }

	svc := service(Geo, 1)
	snap := newSnapshot(t, RoundRobin, svc, world(), nil)
	first := snap.Decide(svc, berlinClient)
	remembered, ok := snap.memo.get(key(svc, berlinClient))
	require.True(t, ok, "country match with one region is remembered")
	require.Equal(t, first, remembered)
	require.Equal(t, first, snap.Decide(svc, berlinClient))

	// Two regions serve EU by continent: a weighted draw, never remembered.
	seen := map[string]bool{}
	for range 50 {
		seen[snap.Decide(svc, parisClient).Regions[0].Name] = true
	}
	_, ok = snap.memo.get(key(svc, parisClient))
	require.False(t, ok)
	require.Len(t, seen, 2)

	withNets := service(Geo, 1)
	withNets.Nets = nets("192.0.2.0/25", "us-east")
	snap = newSnapshot(t, RoundRobin, withNets, world(), nil)
	snap.Decide(withNets, berlinClient)
	_, ok = snap.memo.get(key(withNets, berlinClient))
	require.False(t, ok, "network overrides depend on the address")

	all := []string{"us-east", "eu-central", "eu-west", "sa-east", "ap-southeast"}
	snap = newSnapshot(t, RoundRobin, svc, world(), down(all...))
	require.True(t, snap.Decide(svc, berlinClient).FailOpen)
	_, ok = snap.memo.get(key(svc, berlinClient))
	require.False(t, ok, "fail-open answers are counted each time")

	// A new snapshot (health changed) starts with an empty memo.
	store := NewStore(newSnapshot(t, RoundRobin, svc, world(), nil))
	store.Load().Decide(svc, berlinClient)
	next := store.Update(func(s *Snapshot) { s.Health = down("eu-central") })
	_, ok = next.memo.get(key(svc, berlinClient))
	require.False(t, ok)
	require.NotEqual(t, "eu-central", next.Decide(svc, berlinClient).Regions[0].Name)
}
