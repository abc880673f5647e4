package zones

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

const regionNameRule = "a region name is 1 to 63 lower-case letters, digits or '-', not starting or ending with '-'"

// validRegionName reports whether s follows regionNameRule: region names
// look like DNS labels so they can be used in names and metrics as is.
func validRegionName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// regions reads the regions mapping of a file.
func (p *fileParser) regions(e entry) {
	pairs, _ := p.entries(e.val, "regions")
	for _, re := range pairs {
		if !validRegionName(re.key) {
			p.errorf(re.line, "region %q: %s", re.key, regionNameRule)
			continue
		}
		if r := p.region(re); r != nil {
			p.file.Regions = append(p.file.Regions, r)
			p.file.regionLines[r.Name] = re.line
		}
	}
}

// region reads one region definition; nil after a problem.
func (p *fileParser) region(re entry) *Region {
	where := "region " + re.key
	f, ok := p.fields(re.val, where, "endpoint", "addresses", "cname", "weight", "location", "continents", "countries", "check")
	if !ok {
		return nil
	}
	before := len(p.errs)
	r := &Region{Name: re.key, Weight: 1}
	var u *url.URL
	if e, ok := f["endpoint"]; !ok {
		p.errorf(re.line, "%s: missing required key %q", where, "endpoint")
	} else {
		u = p.endpoint(e, r, where)
	}
	p.target(f, u, r, where)
	if e, ok := f["weight"]; ok {
		r.Weight, _ = p.number(e, sub(where, "weight"), 0, math.MaxFloat64, "a finite number >= 0")
	}
	if e, ok := f["location"]; ok {
		r.Location = p.location(e, sub(where, "location"))
	}
	if e, ok := f["continents"]; ok {
		r.Continents = p.codes(e, sub(where, "continents"), isContinent, "a continent code (AF, AN, AS, EU, NA, OC or SA)")
	}
	if e, ok := f["countries"]; ok {
		r.Countries = p.codes(e, sub(where, "countries"), isCountry, "a two-letter ISO 3166-1 country code")
	}
	if e, ok := f["check"]; ok {
		r.Check = p.check(e, u, sub(where, "check"))
	}
	if len(p.errs) > before {
		return nil
	}
	return r
}

// endpoint reads the endpoint URL into r; nil after a problem.
func (p *fileParser) endpoint(e entry, r *Region, where string) *url.URL {
	s, ok := p.str(e, sub(where, "endpoint"))
	if !ok {
		return nil
	}
	u, err := parseEndpoint(s)
	if err != nil {
		p.errorf(e.val.Line, "%s endpoint: %v", where, err)
		return nil
	}
	r.Endpoint = s
	return u
}

// target sets what the region answers with: the listed addresses, the
// cname, or else whatever the endpoint's host is. u is nil when the
// endpoint is missing or bad (already reported).
func (p *fileParser) target(f map[string]entry, u *url.URL, r *Region, where string) {
	addrs, hasAddrs := f["addresses"]
	cname, hasCNAME := f["cname"]
	switch {
	case hasAddrs && hasCNAME:
		p.errorf(cname.line, "%s: cname and addresses are mutually exclusive", where)
	case hasAddrs:
		p.addresses(addrs, r, sub(where, "addresses"))
	case hasCNAME:
		p.cname(cname, r, sub(where, "cname"))
	case u != nil:
		if err := targetFromEndpoint(u, r); err != nil {
			p.errorf(f["endpoint"].val.Line, "%s endpoint: %v", where, err)
		}
	}
}

func (p *fileParser) addresses(e entry, r *Region, where string) {
	if e.val.Kind == yaml.SequenceNode && len(e.val.Content) == 0 {
		p.errorf(e.val.Line, "%s: the list is empty (omit the key to answer with the endpoint's host)", where)
	}
	for _, item := range p.strList(e, where) {
		a, err := netip.ParseAddr(item.key)
		if err != nil {
			p.errorf(item.line, "%s: %q is not an IP address", where, item.key)
			continue
		}
		if slices.Contains(r.IPv4, a.Unmap()) || slices.Contains(r.IPv6, a) {
			p.errorf(item.line, "%s: %s is listed twice", where, item.key)
			continue
		}
		if err := addAddress(r, a); err != nil {
			p.errorf(item.line, "%s: %v", where, err)
		}
	}
}

func (p *fileParser) cname(e entry, r *Region, where string) {
	s, ok := p.str(e, where)
	if !ok {
		return
	}
	name, ok := p.absName(s)
	if !ok {
		p.errorf(e.val.Line, "%s: %q is not a valid domain name", where, s)
		return
	}
	r.CNAME = name
}

// check reads a region's check mapping. u is the region's endpoint, nil
// when it is missing or bad (already reported): the checks that compare
// the check with the endpoint are then skipped.
func (p *fileParser) check(e entry, u *url.URL, where string) HealthCheck {
	var c HealthCheck
	f, ok := p.fields(e.val, where, "kind", "path", "expect_status", "expect_body", "ca_file", "server_name", "host", "interval", "timeout", "fall", "rise")
	if !ok {
		return c
	}
	if k, ok := f["kind"]; ok {
		c.Kind = p.checkKind(k, u, sub(where, "kind"))
	}
	// The kind the check will have: the one written, else the endpoint's
	// scheme; "" when neither is known, which skips the kind rules below.
	kind := c.Kind
	if kind == "" && u != nil {
		kind = u.Scheme
	}
	// only reports key k when the check's kind does not use it.
	only := func(k entry, kinds ...string) bool {
		if kind == "" || slices.Contains(kinds, kind) {
			return true
		}
		p.errorf(k.line, "%s: only for %s checks, and this check is %s", sub(where, k.key), strings.Join(kinds, " and "), kind)
		return false
	}
	if k, ok := f["path"]; ok && only(k, "http", "https") {
		c.Path = p.checkPath(k, sub(where, "path"))
	}
	if k, ok := f["expect_status"]; ok && only(k, "http", "https") {
		c.StatusMin, c.StatusMax = p.statusRange(k, sub(where, "expect_status"))
	}
	if k, ok := f["expect_body"]; ok && only(k, "http", "https") {
		c.Body = p.nonEmpty(k, sub(where, "expect_body"), "leave the key out to accept any body")
	}
	if k, ok := f["host"]; ok && only(k, "http", "https") {
		if s, ok := p.str(k, sub(where, "host")); ok {
			if validHostHeader(s) {
				c.Host = s
			} else {
				p.errorf(k.val.Line, "%s: %q is not a host name, optionally with a port (like api.example.com or api.example.com:8443)", sub(where, "host"), s)
			}
		}
	}
	if k, ok := f["ca_file"]; ok && only(k, "https") {
		c.CAFile = p.nonEmpty(k, sub(where, "ca_file"), "leave the key out to verify against the system's roots")
	}
	if k, ok := f["server_name"]; ok && only(k, "https") {
		if s, ok := p.str(k, sub(where, "server_name")); ok {
			if validHost(s) {
				c.ServerName = s
			} else {
				p.errorf(k.val.Line, "%s: %q is not a host name or IP address", sub(where, "server_name"), s)
			}
		}
	}
	if k, ok := f["interval"]; ok {
		c.Interval = p.duration(k, sub(where, "interval"))
	}
	if k, ok := f["timeout"]; ok {
		c.Timeout = p.duration(k, sub(where, "timeout"))
		if c.Timeout > 0 && c.Interval > 0 && c.Timeout >= c.Interval {
			p.errorf(k.val.Line, "%s: %s must be shorter than the interval (%s)", sub(where, "timeout"), c.Timeout, c.Interval)
		}
	}
	if k, ok := f["fall"]; ok {
		n, _ := p.integer(k, sub(where, "fall"), 1, math.MaxInt32, "an integer >= 1")
		c.Fall = int(n)
	}
	if k, ok := f["rise"]; ok {
		n, _ := p.integer(k, sub(where, "rise"), 1, math.MaxInt32, "an integer >= 1")
		c.Rise = int(n)
	}
	return c
}

// checkKind reads a check's kind, which must suit the endpoint: an http
// or https endpoint is checked by its own scheme or by tcp (a connection
// to its host and port), a tcp endpoint only by tcp.
func (p *fileParser) checkKind(e entry, u *url.URL, where string) string {
	s, ok := p.str(e, where)
	if !ok {
		return ""
	}
	switch s {
	case "http", "https", "tcp":
	default:
		p.errorf(e.val.Line, "%s: %q is not one of http, https or tcp", where, s)
		return ""
	}
	switch {
	case u == nil || s == u.Scheme || s == "tcp":
		return s
	case u.Scheme == "tcp":
		p.errorf(e.val.Line, "%s: %s does not fit the endpoint's scheme tcp: a tcp:// endpoint is checked with tcp", where, s)
	default:
		p.errorf(e.val.Line, "%s: %s does not fit the endpoint's scheme %s: use %s, or tcp to only open a connection", where, s, u.Scheme, u.Scheme)
	}
	return ""
}

// checkPath reads the path (and query) a check requests instead of the
// endpoint's own.
func (p *fileParser) checkPath(e entry, where string) string {
	s, ok := p.str(e, where)
	if !ok {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || !strings.HasPrefix(s, "/") || u.Host != "" || strings.Contains(s, "#") {
		p.errorf(e.val.Line, "%s: must be an absolute path, optionally with a query (like /healthz or /status?full=1), not %q", where, s)
		return ""
	}
	return s
}

const statusWant = "an HTTP status code or a range like 200-299, with codes from 100 to 599"

// statusRange reads "200-299" or a single code "204"; 0, 0 after a
// problem.
func (p *fileParser) statusRange(e entry, where string) (lo, hi int) {
	s, ok := p.str(e, where)
	if !ok {
		return 0, 0
	}
	first, last, isRange := strings.Cut(s, "-")
	lo, loOK := statusCode(first)
	hi, hiOK := lo, loOK
	if isRange {
		hi, hiOK = statusCode(last)
	}
	switch {
	case !loOK || !hiOK:
		p.errorf(e.val.Line, "%s: must be %s, not %q", where, statusWant, s)
		return 0, 0
	case lo > hi:
		p.errorf(e.val.Line, "%s: %q: the first code is above the last", where, s)
		return 0, 0
	}
	return lo, hi
}

// statusCode parses a three-digit HTTP status code, 100 to 599.
func statusCode(s string) (int, bool) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil || len(s) != 3 || n < 100 || n > 599 {
		return 0, false
	}
	return n, true
}

// nonEmpty reads a string that may not be empty; hint says what to do
// instead.
func (p *fileParser) nonEmpty(e entry, where, hint string) string {
	s, ok := p.str(e, where)
	if ok && s == "" {
		p.errorf(e.val.Line, "%s: must not be empty (%s)", where, hint)
	}
	return s
}

// duration reads a Go duration ("10s", "1m30s", "500ms") greater than 0;
// 0 after a problem.
func (p *fileParser) duration(e entry, where string) time.Duration {
	d, err := time.ParseDuration(e.val.Value)
	if e.val.Kind != yaml.ScalarNode || err != nil || d <= 0 {
		p.errorf(e.val.Line, "%s", ctx(where, "must be a duration greater than 0 like 10s or 500ms, not "+describe(e.val)))
		return 0
	}
	return d
}

// validHost accepts an IP address or a host name: dot-separated labels
// of letters, digits, '-' and '_' (1 to 63 characters, 253 in all).
func validHost(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Zone() == ""
	}
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// validHostHeader accepts what an HTTP Host header may hold: a host name
// or IP address (IPv6 in brackets), optionally with a port.
func validHostHeader(s string) bool {
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
		host = h
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if strings.HasPrefix(s, "[") { // only IPv6 addresses are bracketed
		a, err := netip.ParseAddr(host)
		return err == nil && a.Is6() && a.Zone() == ""
	}
	return !strings.Contains(host, ":") && validHost(host)
}

// location reads a latitude/longitude pair; nil after a problem.
func (p *fileParser) location(e entry, where string) *LatLon {
	f, ok := p.fields(e.val, where, "latitude", "longitude")
	if !ok {
		return nil
	}
	lat, latOK := p.coordinate(f, e, where, "latitude", 90)
	lon, lonOK := p.coordinate(f, e, where, "longitude", 180)
	if !latOK || !lonOK {
		return nil
	}
	return &LatLon{Latitude: lat, Longitude: lon}
}

// coordinate reads the required key of a location, in [-limit, limit].
func (p *fileParser) coordinate(f map[string]entry, loc entry, where, key string, limit float64) (float64, bool) {
	e, ok := f[key]
	if !ok {
		p.errorf(loc.line, "%s: missing required key %q", where, key)
		return 0, false
	}
	want := fmt.Sprintf("a number between %v and %v", -limit, limit)
	return p.number(e, sub(where, key), -limit, limit, want)
}

// codes reads a list of upper-cased codes that valid accepts.
func (p *fileParser) codes(e entry, where string, valid func(string) bool, want string) []string {
	var out []string
	for _, item := range p.strList(e, where) {
		code := strings.ToUpper(item.key)
		if !valid(code) {
			p.errorf(item.line, "%s: %q is not %s", where, item.key, want)
			continue
		}
		out = append(out, code)
	}
	return out
}

func isContinent(code string) bool {
	switch code {
	case "AF", "AN", "AS", "EU", "NA", "OC", "SA":
		return true
	}
	return false
}

// isCountry accepts any two letters: the list of assigned codes changes,
// and an unassigned one simply never matches a client.
func isCountry(code string) bool {
	return len(code) == 2 && code[0] >= 'A' && code[0] <= 'Z' && code[1] >= 'A' && code[1] <= 'Z'
}

// parseEndpoint checks that s is an absolute http(s) URL with a host, or
// tcp://host:port.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("%q is not an absolute http, https or tcp URL with a host", s)
	}
	switch u.Scheme {
	case "http", "https":
	case "tcp":
		if u.Port() == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("%q: a tcp endpoint is written tcp://host:port", s)
		}
	default:
		return nil, fmt.Errorf("%q: the scheme must be http, https or tcp", s)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: port %s is not between 1 and 65535", s, port)
		}
	}
	return u, nil
}

// targetFromEndpoint makes the region answer with its endpoint's host: an
// IP literal is the address, a host name the CNAME target.
func targetFromEndpoint(u *url.URL, r *Region) error {
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return addAddress(r, a)
	}
	if _, ok := dns.IsDomainName(host); !ok {
		return fmt.Errorf("host %q is not a valid domain name", host)
	}
	r.CNAME = dns.CanonicalName(host)
	return nil
}

// addAddress files a into IPv4 or IPv6. IPv4-mapped IPv6 addresses are
// answered as the IPv4 address they stand for.
func addAddress(r *Region, a netip.Addr) error {
	if a.Zone() != "" {
		return fmt.Errorf("%s has an IPv6 zone, which cannot be put in a DNS answer", a)
	}
	if a = a.Unmap(); a.Is4() {
		r.IPv4 = append(r.IPv4, a)
	} else {
		r.IPv6 = append(r.IPv6, a)
	}
	return nil
}

// ParseRegionalEndpoints parses the environment's region list,
// "us-east:https://us.example.com,eu-west:https://eu.example.com": comma
// separated name:URL pairs (blank entries are skipped, so "" means none).
// Each region gets weight 1 and answers with its endpoint's host, as a zone
// file region without addresses or cname does.
func ParseRegionalEndpoints(s string) ([]*Region, error) {
	var (
		out  []*Region
		errs []error
		seen = map[string]bool{}
	)
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		r, err := regionalEndpoint(item)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("regional endpoint %q: %w", item, err))
		case seen[r.Name]:
			errs = append(errs, fmt.Errorf("regional endpoint %q: region %s is listed twice", item, r.Name))
		default:
			seen[r.Name] = true
			out = append(out, r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// regionalEndpoint parses one name:URL entry.
func regionalEndpoint(item string) (*Region, error) {
	name, endpoint, ok := strings.Cut(item, ":")
	name, endpoint = strings.TrimSpace(name), strings.TrimSpace(endpoint)
	// "https://host" splits into the name "https" and "//host".
	if !ok || strings.HasPrefix(endpoint, "//") {
		return nil, errors.New("expected name:URL")
	}
	if !validRegionName(name) {
		return nil, errors.New(regionNameRule)
	}
	u, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	r := &Region{Name: name, Endpoint: endpoint, Weight: 1}
	if err := targetFromEndpoint(u, r); err != nil {
		return nil, err
	}
	return r, nil
}
