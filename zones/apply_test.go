package zones

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func exampleSet(t *testing.T) *Set {
	t.Helper()
	set, err := LoadDir("../testdata/zones", nil)
	require.NoError(t, err)
	return set
}

func ptr[T any](v T) *T { return &v }

func service(t *testing.T, set *Set, name string) *Service {
	t.Helper()
	z := set.Find(name)
	require.NotNil(t, z, name)
	require.NotNil(t, z.Nodes[name], name)
	return z.Nodes[name].Service
}

func TestWithRuntimeEmpty(t *testing.T) {
	set := exampleSet(t)
	got, err := set.WithRuntime(Runtime{Admin: map[string]AdminState{"us-east": ForceDown}})
	require.NoError(t, err)
	require.Same(t, set, got, "state that does not touch the set shares it")
}

func TestWithRuntimeAddsRegions(t *testing.T) {
	set := exampleSet(t)
	www, api := service(t, set, "www.example.test."), service(t, set, "api.example.test.")
	rt := Runtime{Regions: map[string]RegionSpec{
		"us-west": {Region: "us-west", Endpoint: "https://us-west.example.com", Weight: ptr(2.5),
			Addresses: []string{"192.0.2.20", "2001:db8::20"}, Location: &LocationSpec{Latitude: ptr(37.4), Longitude: ptr(-122.1)},
			Countries: []string{"us"}, Continents: []string{"na"}, Services: []string{"api.example.test."},
			Check: &CheckSpec{Path: "/healthz", Interval: "10s", Fall: 2, ExpectStatus: "200-299"}},
		"by-name": {Region: "by-name", Endpoint: "https://lb.example.net/health"},
		"by-ip":   {Region: "by-ip", Endpoint: "http://[2001:db8::30]:8080/"},
	}}
	got, err := set.WithRuntime(rt)
	require.NoError(t, err)

	require.Equal(t, []string{"ap-south", "by-ip", "by-name", "eu-west", "us-east", "us-west"}, got.RegionNames)
	require.Equal(t, &Region{
		Name: "us-west", Endpoint: "https://us-west.example.com", Weight: 2.5,
		IPv4: addrs("192.0.2.20"), IPv6: addrs("2001:db8::20"),
		Location:  &LatLon{Latitude: 37.4, Longitude: -122.1},
		Countries: []string{"US"}, Continents: []string{"NA"},
		Check: HealthCheck{Path: "/healthz", Interval: 10e9, Fall: 2, StatusMin: 200, StatusMax: 299},
	}, got.Region("us-west"))
	require.Equal(t, "lb.example.net.", got.Region("by-name").CNAME, "a host name endpoint answers by CNAME")
	require.Equal(t, 1.0, got.Region("by-name").Weight, "weight defaults to 1")
	require.Equal(t, addrs("2001:db8::30"), got.Region("by-ip").IPv6)

	// www lists no regions: it balances over every region, new ones too.
	require.Len(t, got.ServiceRegions(service(t, got, "www.example.test.")), 6)
	// api lists its regions: only the region naming it joins.
	gotAPI := service(t, got, "api.example.test.")
	require.Equal(t, []string{"us-east", "eu-west", "us-west"}, gotAPI.Regions)

	// The old set is untouched.
	require.Equal(t, []string{"ap-south", "eu-west", "us-east"}, set.RegionNames)
	require.Nil(t, set.Region("us-west"))
	require.Same(t, www, service(t, set, "www.example.test."))
	require.Equal(t, []string{"us-east", "eu-west"}, api.Regions)
	require.Same(t, www, service(t, got, "www.example.test."), "unchanged services are shared")
	require.NotSame(t, set.Zones[0], got.Zones[0], "a zone with a changed service is copied")
}

func TestWithRuntimeSpecErrors(t *testing.T) {
	set := exampleSet(t)
	valid := func(change func(*RegionSpec)) RegionSpec {
		s := RegionSpec{Region: "us-west", Endpoint: "https://192.0.2.20/"}
		change(&s)
		return s
	}
	tests := []struct {
		name     string
		spec     RegionSpec
		field    string
		msg      string
		conflict bool
	}{
		{"bad name", valid(func(s *RegionSpec) { s.Region = "US West" }), "region", regionNameRule, false},
		{"duplicate", valid(func(s *RegionSpec) { s.Region = "us-east" }), "region", "region us-east already exists (defined in the zone files or REGIONAL_ENDPOINTS)", true},
		{"missing endpoint", valid(func(s *RegionSpec) { s.Endpoint = "" }), "endpoint", "required", false},
		{"bad scheme", valid(func(s *RegionSpec) { s.Endpoint = "ftp://x.example/" }), "endpoint", `"ftp://x.example/": the scheme must be http, https or tcp`, false},
		{"not a URL", valid(func(s *RegionSpec) { s.Endpoint = "us-west" }), "endpoint", `"us-west" is not an absolute http, https or tcp URL with a host`, false},
		{"negative weight", valid(func(s *RegionSpec) { s.Weight = ptr(-1.0) }), "weight", `must be a finite number >= 0, not "-1"`, false},
		{"bad address", valid(func(s *RegionSpec) { s.Addresses = []string{"192.0.2.1", "nope"} }), "addresses", `"nope" is not an IP address`, false},
		{"empty addresses", valid(func(s *RegionSpec) { s.Addresses = []string{} }), "addresses", "the list is empty (omit the key to answer with the endpoint's host)", false},
		{"cname and addresses", valid(func(s *RegionSpec) { s.Addresses, s.CNAME = []string{"192.0.2.1"}, "lb.example.com." }), "cname", "cname and addresses are mutually exclusive", false},
		{"latitude out of range", valid(func(s *RegionSpec) { s.Location = &LocationSpec{Latitude: ptr(91.0), Longitude: ptr(0.0)} }), "location.latitude", `must be a number between -90 and 90, not "91"`, false},
		{"missing longitude", valid(func(s *RegionSpec) { s.Location = &LocationSpec{Latitude: ptr(1.0)} }), "location.longitude", "required", false},
		{"bad continent", valid(func(s *RegionSpec) { s.Continents = []string{"XX"} }), "continents", `"XX" is not a continent code (AF, AN, AS, EU, NA, OC or SA)`, false},
		{"bad country", valid(func(s *RegionSpec) { s.Countries = []string{"USA"} }), "countries", `"USA" is not a two-letter ISO 3166-1 country code`, false},
		{"bad interval", valid(func(s *RegionSpec) { s.Check = &CheckSpec{Interval: "often"} }), "check.interval", `must be a duration greater than 0 like 10s or 500ms, not "often"`, false},
		{"kind against endpoint", valid(func(s *RegionSpec) { s.Check = &CheckSpec{Kind: "http"} }), "check.kind", "http does not fit the endpoint's scheme https: use https, or tcp to only open a connection", false},
		{"path of a tcp check", valid(func(s *RegionSpec) { s.Endpoint, s.Check = "tcp://192.0.2.20:53", &CheckSpec{Path: "/x"} }), "check.path", "only for http and https checks, and this check is tcp", false},
		{"bad fall", valid(func(s *RegionSpec) { s.Check = &CheckSpec{Fall: -1} }), "check.fall", `must be an integer >= 1, not "-1"`, false},
		{"null-looking strings are strings", valid(func(s *RegionSpec) { s.Endpoint = "null" }), "endpoint", `"null" is not an absolute http, https or tcp URL with a host`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := set.WithRuntime(Runtime{Regions: map[string]RegionSpec{tc.spec.Region: tc.spec}})
			var re *RuntimeError
			require.ErrorAs(t, err, &re)
			require.Equal(t, tc.field, re.Field, re.Error())
			require.Equal(t, tc.msg, re.Msg)
			require.Equal(t, tc.spec.Region, re.Region)
			require.Equal(t, tc.conflict, re.Conflict)
		})
	}
}

// TestWithRuntimeCNAMEPlaces refuses added regions answering by CNAME
// where zone-file regions may not: the apex, beside other records.
func TestWithRuntimeCNAMEPlaces(t *testing.T) {
	src := `zone: example.test.
records: |
  @ SOA ns1 h 1 2 3 4 5
  @ NS ns1
  ns1 A 192.0.2.53
  txt TXT "here"
regions:
  a:
    endpoint: https://192.0.2.1/
services:
  '@': {regions: [a]}
  txt: {}
  www: {regions: [a]}
`
	f, err := ParseFile("t.yaml", []byte(src))
	require.NoError(t, err)
	set, err := Build([]*File{f}, nil)
	require.NoError(t, err)

	byHost := RegionSpec{Region: "b", Endpoint: "https://b.example.com/"}
	_, err = set.WithRuntime(Runtime{Regions: map[string]RegionSpec{"b": byHost}})
	require.EqualError(t, err, "region b endpoint: the region answers with a CNAME (b.example.com.), which cannot coexist with the TXT records of service txt.example.test.: give it addresses")

	apex := RegionSpec{Region: "c", Endpoint: "https://192.0.2.3/", CNAME: "c.example.com.", Services: []string{"example.test."}}
	set2, err := set.WithRuntime(Runtime{Removed: []string{"nothing"}})
	require.NoError(t, err)
	_, err = set2.WithRuntime(Runtime{Regions: map[string]RegionSpec{"c": apex}})
	require.ErrorContains(t, err, "region c cname: the region answers with a CNAME (c.example.com.), which is not allowed at the zone apex")

	// Joining only www is fine, but txt (every region) is joined anyway.
	www := RegionSpec{Region: "d", Endpoint: "https://d.example.com/", Services: []string{"www.example.test"}}
	_, err = set.WithRuntime(Runtime{Regions: map[string]RegionSpec{"d": www}})
	require.ErrorContains(t, err, "txt.example.test.")
	www.Addresses = []string{"192.0.2.4"}
	got, err := set.WithRuntime(Runtime{Regions: map[string]RegionSpec{"d": www}})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "d"}, service(t, got, "www.example.test.").Regions)
	require.Equal(t, []string{"a"}, service(t, got, "example.test.").Regions)
}

func TestWithRuntimeRemoves(t *testing.T) {
	src := `zone: example.test.
records: |
  @ SOA ns1 h 1 2 3 4 5
  @ NS ns1
  ns1 A 192.0.2.53
regions:
  a: {endpoint: "https://192.0.2.1/"}
  b: {endpoint: "https://192.0.2.2/"}
  c: {endpoint: "https://192.0.2.3/"}
services:
  geo:
    regions: [a, b]
    strategy: geo
    default: b
    nets: {10.0.0.0/8: a, 10.1.0.0/16: b}
    fallback: [b, a]
    backup: c
  all: {default: c}
  c-and-a: {regions: [c, a]}
`
	f, err := ParseFile("t.yaml", []byte(src))
	require.NoError(t, err)
	set, err := Build([]*File{f}, nil)
	require.NoError(t, err)
	before := *service(t, set, "geo.example.test.")

	got, err := set.WithRuntime(Runtime{Removed: []string{"b", "unknown"}})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "c"}, got.RegionNames)
	require.Nil(t, got.Region("b"))
	geo := service(t, got, "geo.example.test.")
	require.Equal(t, []string{"a"}, geo.Regions)
	require.Empty(t, geo.Default)
	require.Len(t, geo.Nets, 1)
	require.Equal(t, "a", geo.Nets[0].Region)
	require.Equal(t, []string{"a"}, geo.Fallback)
	require.Equal(t, "c", geo.Backup)
	require.Equal(t, before, *service(t, set, "geo.example.test."), "the old service is untouched")

	got, err = set.WithRuntime(Runtime{Removed: []string{"c"}})
	require.NoError(t, err)
	require.Empty(t, service(t, got, "geo.example.test.").Backup)
	require.Empty(t, service(t, got, "all.example.test.").Default)
	require.Len(t, got.ServiceRegions(service(t, got, "all.example.test.")), 2)
	require.Equal(t, []string{"a"}, service(t, got, "c-and-a.example.test.").Regions)

	_, err = set.WithRuntime(Runtime{Removed: []string{"a", "c"}})
	var re *RuntimeError
	require.ErrorAs(t, err, &re)
	require.Equal(t, RuntimeError{Region: "c", Field: "region", Conflict: true,
		Msg: "service c-and-a.example.test. would be left without regions: add another region to it first"}, *re)
	_, err = set.WithRuntime(Runtime{Removed: []string{"a", "b", "c"}})
	require.ErrorContains(t, err, "service all.example.test. would be left without regions")
}

func TestWithRuntimeWeightsAndAnswers(t *testing.T) {
	src := `zone: example.test.
records: |
  @ SOA ns1 h 1 2 3 4 5
  @ NS ns1
  ns1 A 192.0.2.53
regions:
  a: {endpoint: "https://192.0.2.1/"}
  b: {endpoint: "https://192.0.2.2/", weight: 3}
services:
  default: {}
  pinned: {strategy: weighted}
  counted: {answers: 1}
`
	f, err := ParseFile("t.yaml", []byte(src))
	require.NoError(t, err)
	set, err := Build([]*File{f}, nil)
	require.NoError(t, err)
	rt := Runtime{
		Weights:            map[string]float64{"a": 0, "b": 3, "gone": 2},
		StrategyParameters: map[string]any{"answers": 2.0},
		Regions:            map[string]RegionSpec{"c": {Region: "c", Endpoint: "https://192.0.2.3/"}},
	}
	rt.Weights["c"] = 7
	got, err := set.WithRuntime(rt)
	require.NoError(t, err)
	require.Equal(t, 0.0, got.Region("a").Weight)
	require.Same(t, set.Region("b"), got.Region("b"), "an unchanged weight shares the region")
	require.Equal(t, 7.0, got.Region("c").Weight, "API regions take weights too")
	require.Equal(t, 1.0, set.Region("a").Weight)
	require.Equal(t, 2, service(t, got, "default.example.test.").Answers)
	require.Equal(t, 1, service(t, got, "pinned.example.test.").Answers, "a service naming its strategy keeps its answers")
	require.Equal(t, 1, service(t, got, "counted.example.test.").Answers, "a service setting answers keeps them")
	require.Equal(t, 1, service(t, set, "default.example.test.").Answers)

	_, err = set.WithRuntime(Runtime{Weights: map[string]float64{"a": -1}})
	require.EqualError(t, err, "region a weight: must be a finite number >= 0, not -1")
}

func TestRuntimeRoundTripAPIState(t *testing.T) {
	path := filepath.Join(t.TempDir(), RuntimeFile)
	rt := Runtime{
		Strategy:           "weighted",
		StrategyParameters: map[string]any{"answers": 2.0},
		Regions: map[string]RegionSpec{"us-west": {Region: "us-west", Endpoint: "https://us-west.example.com", Weight: ptr(0.0),
			Location: &LocationSpec{Latitude: ptr(1.5), Longitude: ptr(-2.0)}, Check: &CheckSpec{Interval: "5s"}, Services: []string{"api.example.test."}}},
		Removed: []string{"ap-south"},
		Weights: map[string]float64{"us-east": 2.5},
	}
	require.NoError(t, rt.Save(path))
	got, err := LoadRuntime(path)
	require.NoError(t, err)
	require.Equal(t, rt, got)
	require.Equal(t, 2, got.AnswersParameter())

	data, err := json.Marshal(rt.Regions["us-west"])
	require.NoError(t, err)
	require.JSONEq(t, `{"region":"us-west","endpoint":"https://us-west.example.com","weight":0,"location":{"latitude":1.5,"longitude":-2},"check":{"interval":"5s"},"services":["api.example.test."]}`, string(data))

	clone := rt.Clone()
	clone.Weights["us-east"] = 1
	clone.Removed[0] = "x"
	require.Equal(t, 2.5, rt.Weights["us-east"])
	require.Equal(t, "ap-south", rt.Removed[0])
}
