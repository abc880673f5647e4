package zones

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

// RuntimeError is a part of the runtime state that cannot be applied to a
// Set: a region spec that is invalid, or that clashes with the Set.
type RuntimeError struct {
	// Region is the region at fault.
	Region string
	// Field is the RegionSpec field at fault, by its JSON name
	// ("endpoint", "location.latitude", "check.interval", ...).
	Field string
	// Msg says what is wrong, without the region and field.
	Msg string
	// Conflict is set when the state clashes with the Set (a region
	// defined twice, a service left without regions) rather than being
	// invalid in itself.
	Conflict bool
}

func (e *RuntimeError) Error() string {
	return "region " + e.Region + " " + e.Field + ": " + e.Msg
}

// WithRuntime returns a new Set: s with the regions of rt added, the ones
// it removes gone, its weights applied and the answers strategy parameter
// given to the services that follow the default strategy. s is not
// changed; the zones, nodes and services the runtime state changes are
// copied, the rest is shared.
//
// Added regions are checked by the rules of zone-file regions, and join
// the services that list no regions (which balance over every region)
// and the services their spec names; names of services that do not exist
// are skipped, so that a zone file may drop a service without making the
// state invalid. A removed region disappears from the service region
// lists, defaults, network overrides, fallback orders and backups that
// name it; names removed that s does not define are ignored, and so are
// weights of regions that do not exist. It is an error for an added
// region to be defined in s as well, or for a service to be left without
// any region; the error is a *RuntimeError.
func (s *Set) WithRuntime(rt Runtime) (*Set, error) {
	answers := rt.AnswersParameter()
	if len(rt.Regions) == 0 && len(rt.Removed) == 0 && len(rt.Weights) == 0 && answers == 0 {
		return s, nil
	}
	regions := maps.Clone(s.Regions)
	removed := map[string]bool{}
	for _, name := range rt.Removed {
		if regions[name] != nil {
			delete(regions, name)
			removed[name] = true
		}
	}
	added := slices.Sorted(maps.Keys(rt.Regions))
	joins := map[string][]string{} // service name → regions joining its list
	for _, name := range added {
		spec := rt.Regions[name]
		if spec.Region != name {
			return nil, &RuntimeError{Region: name, Field: "region", Msg: fmt.Sprintf("the spec names region %q", spec.Region)}
		}
		if regions[name] != nil {
			return nil, &RuntimeError{Region: name, Field: "region", Conflict: true,
				Msg: fmt.Sprintf("region %s already exists (defined in the zone files or REGIONAL_ENDPOINTS)", name)}
		}
		r, err := spec.parse()
		if err != nil {
			return nil, err
		}
		regions[name] = r
		for _, svc := range spec.Services {
			joins[dns.CanonicalName(svc)] = append(joins[dns.CanonicalName(svc)], name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rt.Weights)) {
		w := rt.Weights[name]
		r := regions[name]
		switch {
		case r == nil || r.Weight == w:
			continue
		case math.IsNaN(w) || math.IsInf(w, 0) || w < 0:
			return nil, &RuntimeError{Region: name, Field: "weight", Msg: fmt.Sprintf("must be a finite number >= 0, not %v", w)}
		}
		weighted := *r
		weighted.Weight = w
		regions[name] = &weighted
	}
	out := &Set{Regions: regions, RegionNames: slices.Sorted(maps.Keys(regions)), Zones: make([]*Zone, len(s.Zones))}
	ap := applier{base: s, out: out, rt: rt, answers: answers, joins: joins, removed: removed}
	for i, z := range s.Zones {
		nz, err := ap.zone(z)
		if err != nil {
			return nil, err
		}
		out.Zones[i] = nz
	}
	return out, nil
}

// applier carries what WithRuntime applies to each service.
type applier struct {
	base, out *Set
	rt        Runtime
	answers   int
	joins     map[string][]string
	removed   map[string]bool
}

// zone returns z, or a copy of it when one of its services changes.
func (ap *applier) zone(z *Zone) (*Zone, error) {
	var nz *Zone
	for _, name := range slices.Sorted(maps.Keys(z.Nodes)) {
		n := z.Nodes[name]
		if n.Service == nil {
			continue
		}
		svc, err := ap.service(n.Service)
		if err != nil {
			return nil, err
		}
		if err := ap.checkCNAME(z, n, svc); err != nil {
			return nil, err
		}
		if svc == n.Service {
			continue
		}
		if nz == nil {
			copied := *z
			copied.Nodes = maps.Clone(z.Nodes)
			nz = &copied
		}
		nn := *n
		nn.Service = svc
		nz.Nodes[name] = &nn
	}
	if nz == nil {
		return z, nil
	}
	return nz, nil
}

// service returns svc, or a copy with the runtime state applied.
func (ap *applier) service(svc *Service) (*Service, error) {
	present := func(name string) bool { return ap.out.Regions[name] != nil }
	gone := func(name string) bool { return !present(name) }
	next := *svc
	changed := false
	if len(svc.Regions) > 0 {
		list := slices.DeleteFunc(slices.Clone(svc.Regions), gone)
		for _, name := range ap.joins[svc.Name] {
			if !slices.Contains(list, name) {
				list = append(list, name)
			}
		}
		if !slices.Equal(list, svc.Regions) {
			next.Regions, changed = list, true
		}
	}
	// An empty list would mean every region: a service whose own regions
	// are all removed is left without any, as one over every region is
	// when they all are.
	if (len(svc.Regions) > 0 && len(next.Regions) == 0) || len(ap.out.ServiceRegions(&next)) == 0 {
		for _, r := range ap.base.ServiceRegions(svc) {
			if ap.removed[r.Name] {
				return nil, &RuntimeError{Region: r.Name, Field: "region", Conflict: true,
					Msg: fmt.Sprintf("service %s would be left without regions: add another region to it first", svc.Name)}
			}
		}
	}
	if svc.Default != "" && gone(svc.Default) {
		next.Default, changed = "", true
	}
	if svc.Backup != "" && gone(svc.Backup) {
		next.Backup, changed = "", true
	}
	if slices.ContainsFunc(svc.Nets, func(o NetOverride) bool { return gone(o.Region) }) {
		next.Nets = slices.DeleteFunc(slices.Clone(svc.Nets), func(o NetOverride) bool { return gone(o.Region) })
		changed = true
	}
	if slices.ContainsFunc(svc.Fallback, gone) {
		next.Fallback = slices.DeleteFunc(slices.Clone(svc.Fallback), gone)
		changed = true
	}
	if ap.answers > 0 && svc.Strategy == "" && !svc.AnswersSet && svc.Answers != ap.answers {
		next.Answers, changed = ap.answers, true
	}
	if !changed {
		return svc, nil
	}
	return &next, nil
}

// checkCNAME refuses an added region answering with a CNAME where a CNAME
// may not be: at the apex, or beside other records (as Build does for
// zone-file regions).
func (ap *applier) checkCNAME(z *Zone, n *Node, svc *Service) error {
	for _, r := range ap.out.ServiceRegions(svc) {
		spec, added := ap.rt.Regions[r.Name]
		if !added || r.CNAME == "" {
			continue
		}
		field := "endpoint"
		if spec.CNAME != "" {
			field = "cname"
		}
		if svc.Name == z.Origin {
			return &RuntimeError{Region: r.Name, Field: field, Conflict: true,
				Msg: fmt.Sprintf("the region answers with a CNAME (%s), which is not allowed at the zone apex, where service %s would use it: give it addresses", r.CNAME, svc.Name)}
		}
		for typ := range n.Records {
			if typ != dns.TypeRRSIG && typ != dns.TypeNSEC {
				return &RuntimeError{Region: r.Name, Field: field, Conflict: true,
					Msg: fmt.Sprintf("the region answers with a CNAME (%s), which cannot coexist with the %s records of service %s: give it addresses", r.CNAME, dns.TypeToString[typ], svc.Name)}
			}
		}
	}
	return nil
}

// specFields are the RegionSpec fields by JSON name. The YAML tree a spec
// is checked as puts field i on line i+1, so that the line of a problem
// the zone-file parser reports names the field.
var specFields = []string{
	"region", "endpoint", "addresses", "cname", "weight",
	"location", "location.latitude", "location.longitude",
	"continents", "countries",
	"check", "check.kind", "check.path", "check.expect_status", "check.expect_body", "check.ca_file",
	"check.server_name", "check.host", "check.interval", "check.timeout", "check.fall", "check.rise",
}

// parse checks the spec with the zone-file parser, as the region mapping
// a zone file would hold, and returns the region.
func (spec RegionSpec) parse() (*Region, error) {
	if !validRegionName(spec.Region) {
		return nil, &RuntimeError{Region: spec.Region, Field: "region", Msg: regionNameRule}
	}
	p := &fileParser{file: &File{regionLines: map[string]int{}}, origin: ".", rrLines: map[dns.RR]int{}}
	r := p.region(entry{key: spec.Region, line: 1, val: spec.node()})
	if len(p.errs) > 0 {
		return nil, specError(spec.Region, p.errs[0])
	}
	return r, nil
}

// specError turns the parser's message into a RuntimeError naming the
// field: "region us-west weight: must be ..." becomes field weight,
// message "must be ...".
func specError(region string, fe FileError) *RuntimeError {
	field := "region"
	if fe.Line >= 1 && fe.Line <= len(specFields) {
		field = specFields[fe.Line-1]
	}
	where := "region " + region
	if field != "region" {
		where += " " + strings.ReplaceAll(field, ".", " ")
	}
	msg := fe.Msg
	for _, prefix := range []string{where + ": ", "region " + region + ": "} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			msg = rest
			break
		}
	}
	// "missing required key "latitude"" is reported on the mapping that
	// lacks the key; the field is the key.
	if key, ok := strings.CutPrefix(msg, "missing required key "); ok {
		key, _ = strconv.Unquote(key)
		if field == "region" {
			field = key
		} else {
			field += "." + key
		}
		msg = "required"
	}
	return &RuntimeError{Region: region, Field: field, Msg: msg}
}

// node renders the spec as the YAML mapping a zone file would hold.
func (spec RegionSpec) node() *yaml.Node {
	m := specMapping("region")
	// An empty endpoint is a missing one: "required".
	if spec.Endpoint != "" {
		specAdd(m, "endpoint", specStr("endpoint", spec.Endpoint))
	}
	if spec.Addresses != nil {
		specAdd(m, "addresses", specList("addresses", spec.Addresses))
	}
	if spec.CNAME != "" {
		specAdd(m, "cname", specStr("cname", spec.CNAME))
	}
	if spec.Weight != nil {
		specAdd(m, "weight", specNumber("weight", *spec.Weight))
	}
	if l := spec.Location; l != nil {
		loc := specMapping("location")
		if l.Latitude != nil {
			specAdd(loc, "location.latitude", specNumber("location.latitude", *l.Latitude))
		}
		if l.Longitude != nil {
			specAdd(loc, "location.longitude", specNumber("location.longitude", *l.Longitude))
		}
		specAdd(m, "location", loc)
	}
	if spec.Continents != nil {
		specAdd(m, "continents", specList("continents", spec.Continents))
	}
	if spec.Countries != nil {
		specAdd(m, "countries", specList("countries", spec.Countries))
	}
	if c := spec.Check; c != nil {
		check := specMapping("check")
		for _, kv := range []struct{ field, val string }{
			{"check.kind", c.Kind}, {"check.path", c.Path}, {"check.expect_status", c.ExpectStatus},
			{"check.expect_body", c.ExpectBody}, {"check.ca_file", c.CAFile}, {"check.server_name", c.ServerName},
			{"check.host", c.Host}, {"check.interval", c.Interval}, {"check.timeout", c.Timeout},
		} {
			if kv.val != "" {
				specAdd(check, kv.field, specStr(kv.field, kv.val))
			}
		}
		if c.Fall != 0 {
			specAdd(check, "check.fall", specInt("check.fall", c.Fall))
		}
		if c.Rise != 0 {
			specAdd(check, "check.rise", specInt("check.rise", c.Rise))
		}
		specAdd(m, "check", check)
	}
	return m
}

func specLine(field string) int { return slices.Index(specFields, field) + 1 }

// specAdd appends the key of field (its last part) and val to mapping m.
func specAdd(m *yaml.Node, field string, val *yaml.Node) {
	key := field[strings.LastIndexByte(field, '.')+1:]
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, Line: specLine(field)}, val)
}

func specMapping(field string) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: specLine(field)}
}

// specStr is a string scalar: the explicit tag keeps "null" or "true" strings.
func specStr(field, v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Line: specLine(field)}
}

// specNumber is a scalar the parser resolves as !!int or !!float.
func specNumber(field string, v float64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(v, 'g', -1, 64), Line: specLine(field)}
}

func specInt(field string, v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v), Line: specLine(field)}
}

func specList(field string, items []string) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: specLine(field)}
	for _, item := range items {
		seq.Content = append(seq.Content, specStr(field, item))
	}
	return seq
}
