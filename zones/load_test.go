package zones

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

const exampleDir = "../testdata/zones"

// records returns the String() of the records of one type at a name.
func records(t *testing.T, z *Zone, name string, typ uint16) []string {
	t.Helper()
	n := z.Nodes[name]
	require.NotNil(t, n, "no node %s", name)
	var out []string
	for _, rr := range n.Records[typ] {
		out = append(out, rr.String())
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestExampleZone(t *testing.T) {
	set, err := LoadDir(exampleDir, nil)
	require.NoError(t, err)

	require.Len(t, set.Zones, 1)
	z := set.Zones[0]
	require.Equal(t, "example.test.", z.Origin)
	require.Equal(t, filepath.Join(exampleDir, "example.test.yaml"), z.File)
	require.Equal(t, uint32(300), z.DefaultTTL)
	require.Same(t, z, set.Find("deep.name.www.example.test."))
	require.Nil(t, set.Find("example.org."))

	require.Equal(t, "example.test.\t300\tIN\tSOA\tns1.example.test. hostmaster.example.test. 1 7200 1800 259200 900", z.SOA.String())
	require.Equal(t, uint32(300), z.NegativeTTL())
	require.Len(t, z.NS, 1)
	require.Equal(t, "example.test.\t300\tIN\tNS\tns1.example.test.", z.NS[0].String())
	require.Equal(t, []string{z.SOA.String()}, records(t, z, "example.test.", dns.TypeSOA))
	require.Equal(t, []string{"example.test.\t300\tIN\tMX\t10 mail.example.test."}, records(t, z, "example.test.", dns.TypeMX))
	require.Equal(t, []string{"ns1.example.test.\t300\tIN\tAAAA\t2001:db8::53"}, records(t, z, "ns1.example.test.", dns.TypeAAAA))
	require.Equal(t, []string{"alias.example.test.\t300\tIN\tCNAME\twww.example.test."}, records(t, z, "alias.example.test.", dns.TypeCNAME))
	require.Equal(t, []string{"*.wild.example.test.\t300\tIN\tTXT\t\"wildcard\""}, records(t, z, "*.wild.example.test.", dns.TypeTXT))
	require.ElementsMatch(t, []string{
		"example.test.", "ns1.example.test.", "static.example.test.", "alias.example.test.",
		"*.wild.example.test.", "mail.example.test.", "www.example.test.", "api.example.test.",
	}, keys(z.Nodes))

	require.Equal(t, []string{"ap-south", "eu-west", "us-east"}, set.RegionNames)
	us := set.Region("us-east")
	require.Equal(t, &Region{
		Name:       "us-east",
		Endpoint:   "https://us.example.com",
		IPv4:       addrs("192.0.2.10"),
		IPv6:       addrs("2001:db8::10"),
		Weight:     1,
		Location:   &LatLon{Latitude: 38.9, Longitude: -77.0},
		Continents: []string{"NA"},
	}, us)
	ap := set.Region("ap-south")
	require.Equal(t, addrs("203.0.113.10"), ap.IPv4)
	require.Empty(t, ap.IPv6)
	require.Empty(t, ap.Continents)

	www := z.Nodes["www.example.test."]
	require.Empty(t, www.Records)
	require.Equal(t, &Service{Name: "www.example.test.", Strategy: "geo", TTL: 30, Answers: 1, Default: "ap-south"}, www.Service)
	require.Len(t, set.ServiceRegions(www.Service), 3)
	api := z.Nodes["api.example.test."].Service
	require.Equal(t, &Service{Name: "api.example.test.", Regions: []string{"us-east", "eu-west"}, Strategy: "weighted", TTL: 30, Answers: 2, AnswersSet: true}, api)
	require.Equal(t, []*Region{us, set.Region("eu-west")}, set.ServiceRegions(api))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestFileFeatures covers what the example zone does not: master-file
// directives, regions answering by CNAME, and service options.
func TestFileFeatures(t *testing.T) {
	src := `zone: Example.TEST
records: |
  $TTL 60
  @ IN SOA ns1 hostmaster (
        2024010101 ; serial
        7200 1800 259200 900 )
  @ NS ns1
  @ NS ns.elsewhere.test.
  ns1 3600 A 192.0.2.53
  Mixed.Case TXT "Kept" "as written"
  $ORIGIN sub.example.test.
  deep AAAA 2001:db8::1
  _sip._tcp SRV 10 60 5060 sip
  sip A 192.0.2.5
  www TXT "beside a service"
regions:
  by-name:
    endpoint: https://LB.Example.com:8443/health
    weight: 2.5
    countries: [de, At]
  by-cname:
    endpoint: tcp://192.0.2.7:53
    cname: lb
  by-ip6:
    endpoint: http://[2001:db8::99]/
    weight: 0
services:
  '@':
    regions: [by-ip6]
  www.sub.example.test.:
    regions: [by-ip6]
    strategy: round_robin
    ttl: 0
  geo:
    strategy: geo
    default: by-name
    nets:
      10.0.0.0/8: by-name
      10.1.0.0/16: by-cname
      2001:db8::/32: by-ip6
      192.0.2.128/25: by-ip6
  empty:
`
	f, err := ParseFile("f.yaml", []byte(src))
	require.NoError(t, err)
	set, err := Build([]*File{f}, nil)
	require.NoError(t, err)
	z := set.Zones[0]
	require.Equal(t, "example.test.", z.Origin)
	require.Equal(t, "example.test.\t60\tIN\tSOA\tns1.example.test. hostmaster.example.test. 2024010101 7200 1800 259200 900", z.SOA.String())
	require.Len(t, z.NS, 2)
	require.Equal(t, []string{"ns1.example.test.\t3600\tIN\tA\t192.0.2.53"}, records(t, z, "ns1.example.test.", dns.TypeA))
	require.Equal(t, []string{"ns1.example.test.\t3600\tIN\tA\t192.0.2.53"}, records(t, z, "ns1.example.test.", dns.TypeA))
	// Keys are lower-case, records stay as written.
	require.Equal(t, []string{"Mixed.Case.example.test.\t60\tIN\tTXT\t\"Kept\" \"as written\""}, records(t, z, "mixed.case.example.test.", dns.TypeTXT))
	require.Equal(t, []string{"_sip._tcp.sub.example.test.\t60\tIN\tSRV\t10 60 5060 sip.sub.example.test."}, records(t, z, "_sip._tcp.sub.example.test.", dns.TypeSRV))
	require.Len(t, records(t, z, "deep.sub.example.test.", dns.TypeAAAA), 1)

	byName := set.Region("by-name")
	require.Equal(t, "lb.example.com.", byName.CNAME)
	require.Empty(t, byName.IPv4)
	require.Equal(t, 2.5, byName.Weight)
	require.Equal(t, []string{"DE", "AT"}, byName.Countries)
	require.Equal(t, "lb.example.test.", set.Region("by-cname").CNAME)
	require.Empty(t, set.Region("by-cname").IPv4)
	require.Equal(t, addrs("2001:db8::99"), set.Region("by-ip6").IPv6)
	require.Equal(t, 0.0, set.Region("by-ip6").Weight)

	apex := z.Nodes["example.test."]
	require.NotNil(t, apex.Service)
	require.NotEmpty(t, apex.Records[dns.TypeSOA])
	www := z.Nodes["www.sub.example.test."]
	require.Equal(t, uint32(0), www.Service.TTL)
	require.Equal(t, "round_robin", www.Service.Strategy)
	require.Len(t, www.Records[dns.TypeTXT], 1)
	geo := z.Nodes["geo.example.test."].Service
	require.Equal(t, []NetOverride{
		{netip.MustParsePrefix("192.0.2.128/25"), "by-ip6"},
		{netip.MustParsePrefix("10.1.0.0/16"), "by-cname"},
		{netip.MustParsePrefix("10.0.0.0/8"), "by-name"},
		{netip.MustParsePrefix("2001:db8::/32"), "by-ip6"},
	}, geo.Nets)
	empty := z.Nodes["empty.example.test."].Service
	require.Equal(t, &Service{Name: "empty.example.test.", TTL: 30, Answers: 1}, empty)
}

// TestZoneTTL checks that the ttl key works like $TTL: a record's own TTL
// does not become the default of the records after it.
func TestZoneTTL(t *testing.T) {
	src := "zone: example.test.\nttl: 300\nrecords: |\n  @ 3600 SOA ns1 h 1 2 3 4 5\n  @ NS ns1\n  ns1 A 192.0.2.53\n  $TTL 60\n  www 10 A 192.0.2.80\n  api A 192.0.2.81\n"
	f, err := ParseFile("t.yaml", []byte(src))
	require.NoError(t, err)
	z := f.Zone
	require.Equal(t, uint32(3600), z.SOA.Hdr.Ttl)
	require.Equal(t, uint32(300), z.NS[0].Header().Ttl)
	require.Equal(t, []string{"ns1.example.test.\t300\tIN\tA\t192.0.2.53"}, records(t, z, "ns1.example.test.", dns.TypeA))
	require.Equal(t, []string{"api.example.test.\t60\tIN\tA\t192.0.2.81"}, records(t, z, "api.example.test.", dns.TypeA))
}

// TestRecordLines checks that each record is tied to the line it starts
// on, however the text around it is laid out: every record but the first
// two is out of the zone, so its error shows the line found for it.
func TestRecordLines(t *testing.T) {
	src := `zone: example.test.
records: |
  @ SOA ns1 h 1 2 3 4 5
  @ NS ns.elsewhere.test.

  ; a comment line
  a.other.test. A 192.0.2.1 ; comment after a record
  b.other.test. TXT (
      "spanning"
      "lines" )
  $TTL 10
  c.other.test. A 192.0.2.3
  	A 192.0.2.4
  $ORIGIN other.test.
  d A 192.0.2.5
  e.other.test. ( A
      192.0.2.6 )
`
	_, err := ParseFile("t.yaml", []byte(src))
	var le *LoadError
	require.ErrorAs(t, err, &le)
	var got []string
	for _, e := range le.Errors {
		got = append(got, e.Error())
	}
	require.Equal(t, []string{
		"t.yaml:7: records: a.other.test. is outside the zone example.test.",
		"t.yaml:8: records: b.other.test. is outside the zone example.test.",
		"t.yaml:12: records: c.other.test. is outside the zone example.test.",
		"t.yaml:13: records: c.other.test. is outside the zone example.test.",
		"t.yaml:15: records: d.other.test. is outside the zone example.test.",
		"t.yaml:16: records: e.other.test. is outside the zone example.test.",
	}, got)
}

func TestBuildExtraRegions(t *testing.T) {
	f, err := ParseFile("t.yaml", []byte(withServices+"  www:\n    regions: [us-east, env-only]\n"))
	require.NoError(t, err)
	_, err = Build([]*File{f}, nil)
	require.EqualError(t, err, `t.yaml:11: service www regions: unknown region "env-only"`)

	extra, err := ParseRegionalEndpoints("us-east:https://192.0.2.1/,env-only:https://env.example.com")
	require.NoError(t, err)
	set, err := Build([]*File{f}, extra)
	require.NoError(t, err)
	require.Equal(t, []string{"env-only", "us-east"}, set.RegionNames)
	require.Equal(t, "us.example.com.", set.Region("us-east").CNAME, "the file's region wins")
	require.Same(t, extra[1], set.Region("env-only"))
}

func TestCrossFileRegions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("a.yaml", "zone: a.test.\nrecords: |\n  @ SOA ns h 1 2 3 4 5\n  @ NS ns.b.test.\nservices:\n  www: {regions: [only-in-b]}\n")
	write("b.yml", "zone: b.test.\nrecords: |\n  @ SOA ns h 1 2 3 4 5\n  @ NS ns\n  ns A 192.0.2.1\nregions:\n  only-in-b: {endpoint: 'https://192.0.2.2'}\n")
	write("sub.b.yaml", "zone: sub.b.test.\nrecords: |\n  @ SOA ns.b.test. h 1 2 3 4 5\n  @ NS ns.b.test.\n")
	write(".hidden.yaml", "not: a zone")
	write("notes.txt", "not a zone either")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dir.yaml"), 0o755))

	set, err := LoadDir(dir, nil)
	require.NoError(t, err)
	var origins []string
	for _, z := range set.Zones {
		origins = append(origins, z.Origin)
	}
	require.Equal(t, []string{"sub.b.test.", "a.test.", "b.test."}, origins)
	require.Equal(t, "sub.b.test.", set.Find("x.sub.b.test.").Origin)
	require.Equal(t, "b.test.", set.Find("x.b.test.").Origin)
	require.Equal(t, []string{"only-in-b"}, set.RegionNames)

	env, err := ParseRegionalEndpoints("only-in-b:https://env.example.com,env:https://192.0.2.9")
	require.NoError(t, err)
	set, err = LoadDir(dir, env)
	require.NoError(t, err)
	require.Equal(t, []string{"env", "only-in-b"}, set.RegionNames)
	require.Equal(t, addrs("192.0.2.2"), set.Region("only-in-b").IPv4, "the file's region wins")

	// Check accepts the directory, and a single file as long as it stands
	// on its own.
	_, err = Check(dir)
	require.NoError(t, err)
	_, err = Check(filepath.Join(dir, "b.yml"))
	require.NoError(t, err)
	_, err = Check(filepath.Join(dir, "a.yaml"))
	require.EqualError(t, err, filepath.Join(dir, "a.yaml")+`:6: service www regions: unknown region "only-in-b"`)
}

func TestLoadProblems(t *testing.T) {
	empty := t.TempDir()
	_, err := LoadDir(empty, nil)
	require.EqualError(t, err, empty+": no zone files (*.yaml or *.yml) in this directory")

	missing := filepath.Join(empty, "missing")
	_, err = LoadDir(missing, nil)
	require.EqualError(t, err, missing+": no such file or directory")
	_, err = Check(missing)
	require.EqualError(t, err, missing+": no such file or directory")
	_, err = LoadFiles()
	require.EqualError(t, err, "no zone files given")

	// Every file's problems are reported, sorted by file and line.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("zone: b.test.\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("zone: a.test.\nttl: x\n"), 0o644))
	require.NoError(t, os.Symlink("nowhere", filepath.Join(dir, "c.yaml")))
	_, err = LoadDir(dir, nil)
	var le *LoadError
	require.ErrorAs(t, err, &le)
	require.Equal(t, filepath.Join(dir, "a.yaml")+`: missing required key "records"`+"\n"+
		filepath.Join(dir, "a.yaml")+`:2: ttl: must be an integer between 0 and 2147483647, not "x"`+"\n"+
		filepath.Join(dir, "b.yaml")+`: missing required key "records"`+"\n"+
		filepath.Join(dir, "c.yaml")+`: no such file or directory`, err.Error())
}
