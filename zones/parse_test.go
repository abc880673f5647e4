package zones

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// base is the smallest valid zone: line 2 is the records key, lines 3-5
// the records, so text appended to the block starts at line 6, as does a
// key appended at the top level.
const base = `zone: example.test.
records: |
  @    SOA ns1 hostmaster 1 7200 1800 259200 900
  @    NS  ns1
  ns1  A   192.0.2.53
`

// withRegion adds region us-east (lines 6-8); region keys appended to it
// start at line 9.
const withRegion = base + `regions:
  us-east:
    endpoint: https://us.example.com
`

// withServices opens the services mapping at line 9 after withRegion: the
// first service appended is at line 10.
const withServices = withRegion + "services:\n"

// loadErrors parses then builds the files (name → content, built in name
// order) and returns the error text.
func loadErrors(t *testing.T, files map[string]string) string {
	t.Helper()
	var parsed []*File
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f, err := ParseFile(name, []byte(files[name]))
		if err != nil {
			return checkedError(t, err)
		}
		parsed = append(parsed, f)
	}
	_, err := Build(parsed, nil)
	require.Error(t, err, "expected an error")
	return checkedError(t, err)
}

// checkedError asserts err is a *LoadError and returns its text.
func checkedError(t *testing.T, err error) string {
	t.Helper()
	var le *LoadError
	require.True(t, errors.As(err, &le), "error %T is not a *LoadError", err)
	require.NotEmpty(t, le.Errors)
	return err.Error()
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		// The YAML document.
		{"empty file", "", `t.yaml: the file is empty: it must be a mapping with at least the keys zone and records`},
		{"comments only", "# nothing\n", `t.yaml: the file is empty: it must be a mapping with at least the keys zone and records`},
		{"not a mapping", "- zone\n", `t.yaml:1: the file must be a mapping with at least the keys zone and records, not a list`},
		{"bare document marker", "---\n", `t.yaml: the file is empty: it must be a mapping with at least the keys zone and records`},
		{"syntax error", "zone: example.test.\nregions: [\n", `t.yaml:2: invalid YAML: did not find expected node content`},
		{"syntax error without a line", "zone: a: b\n", `t.yaml: invalid YAML: mapping values are not allowed in this context`},
		{"second document", base + "---\nzone: other.test.\n", `t.yaml:6: a zone file holds a single YAML document: remove this one or move it to a file of its own`},
		{"alias", base + "regions: &r {}\nservices: *r\n", `t.yaml:7: YAML aliases (*r) are not supported`},
		{"unknown top-level key", base + "recrods: x\n", `t.yaml:6: unknown key "recrods" (expected one of zone, ttl, records, regions, services)`},
		{"duplicate key", base + "zone: other.test.\n", `t.yaml:6: duplicate key "zone" (first at line 1)`},
		{"mapping as key", base + "? {a: b}\n: c\n", `t.yaml:6: keys must be plain strings, not a mapping`},

		// zone, ttl, records as keys.
		{"missing zone", "records: |\n  @ SOA ns1 h 1 2 3 4 5\n", `t.yaml: missing required key "zone"`},
		{"invalid zone", "zone: a..b\n", `t.yaml:1: zone: "a..b" is not a valid domain name`},
		{"zone not a string", "zone: [a, b]\n", `t.yaml:1: zone: must be a string, not a list`},
		{"negative ttl", base + "ttl: -1\n", `t.yaml:6: ttl: must be an integer between 0 and 2147483647, not "-1"`},
		{"ttl above RFC 2181", base + "ttl: 4294967295\n", `t.yaml:6: ttl: must be an integer between 0 and 2147483647, not "4294967295"`},
		{"ttl not an integer", base + "ttl: 1h\n", `t.yaml:6: ttl: must be an integer between 0 and 2147483647, not "1h"`},
		{"missing records", "zone: example.test.\n", `t.yaml: missing required key "records"`},
		{"records not text", "zone: example.test.\nrecords:\n  - a\n", `t.yaml:3: records: must be a string, not a list`},

		// Master-file syntax, with lines mapped into the YAML file.
		{"bad rdata", base + "  www  A  192.0.2\n", `t.yaml:6: records: bad A A: "192.0.2"`},
		{"unknown type", base + "  www  AX 192.0.2.1\n", `t.yaml:6: records: not a TTL: "AX"`},
		{"generate refused", base + "  $GENERATE 1-3 host$ A 192.0.2.$\n", `t.yaml:6: records: $GENERATE is not supported: write the records out`},
		{"generate refused however written", base + "  ; $GENERATE in a comment is fine\n  ($generate\t1-3 host$ A 192.0.2.$\n", `t.yaml:7: records: $GENERATE is not supported: write the records out`},
		{"include refused", base + "  $INCLUDE /etc/passwd\n", `t.yaml:6: records: $INCLUDE directive not allowed: "/etc/passwd"`},
		{"error after comments and blank lines", base + "  ; comment\n\n  $TTL 60\n  www A 1\n", `t.yaml:9: records: bad A A: "1"`},
		{"error inside parentheses", base + "  www TXT ( \"a\"\n    \"b\" ) )\n", `t.yaml:7: records: bad TXT Txt: "extra closing brace"`},
		{"type without data", base + "  www  A\n", `t.yaml:6: records: www.example.test. A has no data`},
		{"unencodable data", base + "  www  RRSIG A 8 3 300 20300101000000 20200101000000 1 example.test. !!!!\n", `t.yaml:6: records: www.example.test. RRSIG cannot be encoded: illegal base64 data at input byte 0`},

		// Record placement.
		{"outside the zone", base + "  www.other.test. A 192.0.2.1\n", `t.yaml:6: records: www.other.test. is outside the zone example.test.`},
		{"outside via $ORIGIN", base + "  $ORIGIN other.test.\n  www A 192.0.2.1\n", `t.yaml:7: records: www.other.test. is outside the zone example.test.`},
		{"class other than IN", base + "  www CH TXT \"x\"\n", `t.yaml:6: records: www.example.test. TXT: class CH is not supported, only IN`},
		{"SOA below the apex", base + "  sub SOA ns1 h 1 2 3 4 5\n", `t.yaml:6: records: the SOA record must be at the zone apex example.test., not at sub.example.test.`},
		{"second SOA", base + "  @ SOA ns1 h 2 2 3 4 5\n", `t.yaml:6: records: second SOA record (the first is at line 3)`},
		{"no SOA", "zone: example.test.\nrecords: |\n  @ NS ns1\n  ns1 A 192.0.2.53\n", `t.yaml:2: records: no SOA record at the zone apex example.test.`},
		{"no NS", "zone: example.test.\nrecords: |\n  @ SOA ns1 h 1 2 3 4 5\n", `t.yaml:2: records: no NS record at the zone apex example.test.`},
		{"CNAME at the apex", base + "  @ CNAME other.test.\n", `t.yaml:6: records: CNAME is not allowed at the zone apex example.test.`},
		{"CNAME and other data", base + "  www CNAME other.test.\n  www TXT \"x\"\n", `t.yaml:6: records: www.example.test. has CNAME and other data (TXT at line 7)`},
		{"CNAME and other data, other first", base + "  www MX 10 mail\n  www CNAME other.test.\n", `t.yaml:7: records: www.example.test. has CNAME and other data (MX at line 6)`},
		{"two CNAMEs", base + "  www CNAME a.test.\n  WWW CNAME b.test.\n", `t.yaml:7: records: www.example.test. has more than one CNAME (the first is at line 6)`},
		{"in-zone NS target without address", base + "  sub NS ns.sub\n", `t.yaml:6: records: NS target ns.sub.example.test. is in the zone but has no A or AAAA record`},
		{"apex NS target without address", "zone: example.test.\nrecords: |\n  @ SOA ns1 h 1 2 3 4 5\n  @ NS ns1\n", `t.yaml:4: records: NS target ns1.example.test. is in the zone but has no A or AAAA record`},

		{"CRLF line endings", strings.ReplaceAll(base+"  www A 1\n", "\n", "\r\n"), `t.yaml:6: records: bad A A: "1"`},

		// Records written in other scalar styles.
		{"quoted records", "zone: example.test.\nrecords: \"@ SOA ns1 h 1 2 3 4 5\\n@ NS ns1\\nns1 A 1\"\n", `t.yaml:2: records: bad A A: "1"`},
		{"folded records", "zone: example.test.\nrecords: >\n  @ SOA ns1 h 1 2 3 4 5\n\n  ns1 A 1\n", `t.yaml:3: records: bad A A: "1"`},
		{"literal header on its own line", "zone: example.test.\nrecords:\n  |2-\n  @ SOA ns1 h 1 2 3 4 5\n  ns1 A 1\n", `t.yaml:5: records: bad A A: "1"`},

		// Regions.
		{"bad region name", base + "regions:\n  US_East:\n    endpoint: https://us.example.com\n", `t.yaml:7: region "US_East": a region name is 1 to 63 lower-case letters, digits or '-', not starting or ending with '-'`},
		{"region name ending in -", base + "regions:\n  us-:\n    endpoint: https://us.example.com\n", `t.yaml:7: region "us-": a region name is 1 to 63 lower-case letters, digits or '-', not starting or ending with '-'`},
		{"region not a mapping", base + "regions:\n  us-east: https://us.example.com\n", `t.yaml:7: region us-east: must be a mapping, not "https://us.example.com"`},
		{"regions not a mapping", base + "regions: [us-east]\n", `t.yaml:6: regions: must be a mapping, not a list`},
		{"unknown region key", withRegion + "    wieght: 2\n", `t.yaml:9: region us-east: unknown key "wieght" (expected one of endpoint, addresses, cname, weight, location, continents, countries, check)`},
		{"missing endpoint", base + "regions:\n  us-east:\n    weight: 1\n", `t.yaml:7: region us-east: missing required key "endpoint"`},
		{"empty region", base + "regions:\n  us-east:\n", `t.yaml:7: region us-east: missing required key "endpoint"`},
		{"endpoint scheme", base + "regions:\n  us-east:\n    endpoint: ftp://us.example.com\n", `t.yaml:8: region us-east endpoint: "ftp://us.example.com": the scheme must be http, https or tcp`},
		{"endpoint not absolute", base + "regions:\n  us-east:\n    endpoint: us.example.com\n", `t.yaml:8: region us-east endpoint: "us.example.com" is not an absolute http, https or tcp URL with a host`},
		{"tcp endpoint without port", base + "regions:\n  us-east:\n    endpoint: tcp://us.example.com\n", `t.yaml:8: region us-east endpoint: "tcp://us.example.com": a tcp endpoint is written tcp://host:port`},
		{"tcp endpoint with path", base + "regions:\n  us-east:\n    endpoint: tcp://us.example.com:80/x\n", `t.yaml:8: region us-east endpoint: "tcp://us.example.com:80/x": a tcp endpoint is written tcp://host:port`},
		{"endpoint port out of range", base + "regions:\n  us-east:\n    endpoint: https://us.example.com:70000\n", `t.yaml:8: region us-east endpoint: "https://us.example.com:70000": port 70000 is not between 1 and 65535`},
		{"endpoint with zoned address", base + "regions:\n  us-east:\n    endpoint: http://[fe80::1%25eth0]/\n", `t.yaml:8: region us-east endpoint: fe80::1%eth0 has an IPv6 zone, which cannot be put in a DNS answer`},
		{"bad address", withRegion + "    addresses: [192.0.2.1, 192.0.2]\n", `t.yaml:9: region us-east addresses: "192.0.2" is not an IP address`},
		{"address listed twice", withRegion + "    addresses:\n      - 192.0.2.1\n      - ::ffff:192.0.2.1\n", `t.yaml:11: region us-east addresses: ::ffff:192.0.2.1 is listed twice`},
		{"empty addresses", withRegion + "    addresses: []\n", `t.yaml:9: region us-east addresses: the list is empty (omit the key to answer with the endpoint's host)`},
		{"addresses not a list", withRegion + "    addresses: 192.0.2.1\n", `t.yaml:9: region us-east addresses: must be a list, not "192.0.2.1"`},
		{"address not a string", withRegion + "    addresses: [{a: b}]\n", `t.yaml:9: region us-east addresses: items must be strings, not a mapping`},
		{"cname and addresses", withRegion + "    addresses: [192.0.2.1]\n    cname: lb\n", `t.yaml:10: region us-east: cname and addresses are mutually exclusive`},
		{"bad cname", withRegion + "    cname: a..b\n", `t.yaml:9: region us-east cname: "a..b" is not a valid domain name`},
		{"negative weight", withRegion + "    weight: -1\n", `t.yaml:9: region us-east weight: must be a finite number >= 0, not "-1"`},
		{"infinite weight", withRegion + "    weight: .inf\n", `t.yaml:9: region us-east weight: must be a finite number >= 0, not ".inf"`},
		{"weight not a number", withRegion + "    weight: heavy\n", `t.yaml:9: region us-east weight: must be a finite number >= 0, not "heavy"`},
		{"latitude out of range", withRegion + "    location: {latitude: 91, longitude: 0}\n", `t.yaml:9: region us-east location latitude: must be a number between -90 and 90, not "91"`},
		{"longitude out of range", withRegion + "    location:\n      latitude: 0\n      longitude: -180.5\n", `t.yaml:11: region us-east location longitude: must be a number between -180 and 180, not "-180.5"`},
		{"missing longitude", withRegion + "    location: {latitude: 1}\n", `t.yaml:9: region us-east location: missing required key "longitude"`},
		{"location not a mapping", withRegion + "    location: [1, 2]\n", `t.yaml:9: region us-east location: must be a mapping, not a list`},
		{"unknown location key", withRegion + "    location: {lat: 1, latitude: 1, longitude: 2}\n", `t.yaml:9: region us-east location: unknown key "lat" (expected one of latitude, longitude)`},
		{"bad continent", withRegion + "    continents: [eu, XX]\n", `t.yaml:9: region us-east continents: "XX" is not a continent code (AF, AN, AS, EU, NA, OC or SA)`},
		{"bad country", withRegion + "    countries: [us, USA]\n", `t.yaml:9: region us-east countries: "USA" is not a two-letter ISO 3166-1 country code`},
		{"duplicate region in a file", withRegion + "  us-east:\n    endpoint: https://us2.example.com\n", `t.yaml:9: regions: duplicate key "us-east" (first at line 7)`},

		// Services, as far as one file can tell.
		{"services not a mapping", withServices + "  - www\n", `t.yaml:10: services: must be a mapping, not a list`},
		{"bad service name", withServices + "  a..b: {}\n", `t.yaml:10: service "a..b": not a valid domain name`},
		{"service outside the zone", withServices + "  www.other.test.: {}\n", `t.yaml:10: service www.other.test.: www.other.test. is outside the zone example.test.`},
		{"same service twice", withServices + "  www: {}\n  WWW.example.test.: {}\n", `t.yaml:11: service WWW.example.test.: www.example.test. is already the service www (line 10)`},
		{"unknown service key", withServices + "  www:\n    region: [us-east]\n", `t.yaml:11: service www: unknown key "region" (expected one of regions, strategy, ttl, answers, default, nets, fallback, backup)`},
		{"region listed twice", withServices + "  www:\n    regions: [us-east, us-east]\n", `t.yaml:11: service www regions: us-east is listed twice`},
		{"bad strategy", withServices + "  www:\n    strategy: fastest\n", `t.yaml:11: service www strategy: "fastest" is not one of round_robin, weighted, least_latency or geo`},
		{"bad service ttl", withServices + "  www:\n    ttl: 2147483648\n", `t.yaml:11: service www ttl: must be an integer between 0 and 2147483647, not "2147483648"`},
		{"zero answers", withServices + "  www:\n    answers: 0\n", `t.yaml:11: service www answers: must be an integer >= 1, not "0"`},
		{"fallback outside the service", withServices + "  www:\n    regions: [us-east]\n    fallback: [eu-west]\n", `t.yaml:12: service www fallback: eu-west is not one of the service's regions`},
		{"default outside the service", withServices + "  www:\n    regions: [us-east]\n    default: eu-west\n", `t.yaml:12: service www default: eu-west is not one of the service's regions`},
		{"net with host bits", withServices + "  www:\n    nets:\n      10.1.2.3/8: us-east\n", `t.yaml:12: service www nets: 10.1.2.3/8 has host bits set: write 10.0.0.0/8`},
		{"net not a prefix", withServices + "  www:\n    nets:\n      10.0.0.0: us-east\n", `t.yaml:12: service www nets: "10.0.0.0" is not a network in CIDR notation (like 192.0.2.0/24 or 2001:db8::/32)`},
		{"same net twice", withServices + "  www:\n    nets:\n      2001:db8::/32: us-east\n      2001:DB8::/32: us-east\n", `t.yaml:13: service www nets: 2001:DB8::/32 is the same network as 2001:db8::/32 (line 12)`},
		{"net outside the service", withServices + "  www:\n    regions: [us-east]\n    nets: {10.0.0.0/8: eu-west}\n", `t.yaml:12: service www nets 10.0.0.0/8: eu-west is not one of the service's regions`},
		{"net region not a string", withServices + "  www:\n    nets: {10.0.0.0/8: [us-east]}\n", `t.yaml:11: service www nets 10.0.0.0/8: must be a string, not a list`},
		{"service over a static A", strings.Replace(withServices, "  ns1  A   192.0.2.53\n", "  ns1  A   192.0.2.53\n  www  A   192.0.2.80\n", 1) + "  www: {}\n",
			`t.yaml:11: service www: www.example.test. also has a static A record (line 6); a service's answers come from its regions`},
		{"service over a CNAME", "zone: example.test.\nrecords: |\n  @ SOA ns1 h 1 2 3 4 5\n  @ NS ns1\n  ns1 A 192.0.2.53\n  www CNAME elsewhere.test.\nservices:\n  www: {}\n", `t.yaml:8: service www: www.example.test. also has a static CNAME record (line 6); a service's answers come from its regions`},
		{"service at the apex over a static AAAA", "zone: example.test.\nrecords: |\n  @ SOA ns1 h 1 2 3 4 5\n  @ NS ns1\n  ns1 A 192.0.2.53\n  @ AAAA 2001:db8::1\nservices:\n  '@': {}\n", `t.yaml:8: service @: example.test. also has a static AAAA record (line 6); a service's answers come from its regions`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile("t.yaml", []byte(tt.src))
			require.Error(t, err)
			require.Equal(t, tt.want, checkedError(t, err))
		})
	}
}

// TestBuildErrors covers what only the whole directory can tell.
func TestBuildErrors(t *testing.T) {
	usEast := "regions:\n  us-east:\n    endpoint: https://192.0.2.10/\n"
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown service region", map[string]string{"t.yaml": withServices + "  www:\n    regions: [us-east, us-wst]\n"},
			`t.yaml:11: service www regions: unknown region "us-wst"`},
		{"unknown default", map[string]string{"t.yaml": withServices + "  www:\n    default: eu-west\n"},
			`t.yaml:11: service www default: unknown region "eu-west"`},
		{"unknown backup region", map[string]string{"t.yaml": withServices + "  www:\n    backup: standby\n"},
			`t.yaml:11: service www backup: unknown region "standby"`},
		{"unknown fallback region", map[string]string{"t.yaml": withServices + "  www:\n    fallback: [us-east, nowhere]\n"},
			`t.yaml:11: service www fallback: unknown region "nowhere"`},
		{"unknown net region", map[string]string{"t.yaml": withServices + "  www:\n    nets:\n      192.0.2.0/24: eu-west\n"},
			`t.yaml:12: service www nets 192.0.2.0/24: unknown region "eu-west"`},
		{"no regions anywhere", map[string]string{"t.yaml": base + "services:\n  www: {}\n"},
			`t.yaml:7: service www: there are no regions to balance over`},
		{"CNAME region at the apex", map[string]string{"t.yaml": withServices + "  '@': {}\n"},
			`t.yaml:10: service @: region us-east answers with a CNAME (us.example.com.), which is not allowed at the zone apex`},
		{"CNAME region beside other data", map[string]string{"t.yaml": strings.Replace(withServices, "  ns1  A   192.0.2.53\n", "  ns1  A   192.0.2.53\n  www  TXT \"hello\"\n", 1) + "  www: {}\n"},
			`t.yaml:11: service www: region us-east answers with a CNAME (us.example.com.), which cannot coexist with the TXT record at line 6`},
		{"zone in two files", map[string]string{"a.yaml": base, "b.yaml": "\n" + base},
			`b.yaml:2: zone example.test. is already defined at a.yaml:1`},
		{"region in two files", map[string]string{
			"a.yaml": base + usEast,
			"b.yaml": strings.ReplaceAll(base, "example.test.", "other.test.") + "\n" + usEast,
		}, `b.yaml:8: region us-east is already defined at a.yaml:7`},
		{"every problem, sorted", map[string]string{
			"a.yaml": withServices + "  www:\n    regions: [nope]\n    default: nope\n  api:\n    nets: {10.0.0.0/8: gone}\n",
		}, strings.Join([]string{
			`a.yaml:11: service www regions: unknown region "nope"`,
			`a.yaml:14: service api nets 10.0.0.0/8: unknown region "gone"`,
		}, "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, loadErrors(t, tt.files))
		})
	}
}

func TestSeveralProblemsInOneFile(t *testing.T) {
	src := base + "  bad A 1\nttl: x\nregions:\n  us-east: {}\nservices:\n  www:\n    answers: 0\n"
	_, err := ParseFile("t.yaml", []byte(src))
	require.EqualError(t, err, strings.Join([]string{
		`t.yaml:6: records: bad A A: "1"`,
		`t.yaml:7: ttl: must be an integer between 0 and 2147483647, not "x"`,
		`t.yaml:9: region us-east: missing required key "endpoint"`,
		`t.yaml:12: service www answers: must be an integer >= 1, not "0"`,
	}, "\n"))
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(base)
	for range 60 {
		b.WriteString("  www.other.test. A 192.0.2.1\n")
	}
	_, err := ParseFile("t.yaml", []byte(b.String()))
	var le *LoadError
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Errors, maxErrors+1)
	require.Equal(t, "t.yaml:55: records: www.other.test. is outside the zone example.test.", le.Errors[maxErrors-1].Error())
	require.Equal(t, "too many errors: 10 more not shown", le.Errors[maxErrors].Error())
}

func TestFileErrorFormat(t *testing.T) {
	require.Equal(t, "a.yaml:3: bad", FileError{File: "a.yaml", Line: 3, Msg: "bad"}.Error())
	require.Equal(t, "a.yaml: bad", FileError{File: "a.yaml", Msg: "bad"}.Error())
	require.Equal(t, "bad", FileError{Msg: "bad"}.Error())
	le := &LoadError{Errors: []FileError{{File: "a", Line: 1, Msg: "x"}, {File: "b", Msg: "y"}}}
	require.Equal(t, "a:1: x\nb: y", le.Error())
}
