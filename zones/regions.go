package zones

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

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
	f, ok := p.fields(re.val, where, "endpoint", "addresses", "cname", "weight", "location", "continents", "countries")
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
