package api

import (
	"maps"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/health"
	"github.com/geodns/geodns/zones"
)

// regionView is a region as the regions and status calls show it.
type regionView struct {
	Region   string `json:"region"`
	Endpoint string `json:"endpoint"`
	// Source is "zones" for regions of the zone files or
	// REGIONAL_ENDPOINTS, "api" for regions added through the API.
	Source     string        `json:"source"`
	Weight     float64       `json:"weight"`
	Addresses  []string      `json:"addresses,omitempty"`
	CNAME      string        `json:"cname,omitempty"`
	Location   *locationView `json:"location,omitempty"`
	Countries  []string      `json:"countries,omitempty"`
	Continents []string      `json:"continents,omitempty"`
	// AdminState is auto, force-up or force-down.
	AdminState string     `json:"admin_state"`
	Health     healthView `json:"health"`
	// InAnswers is false when clients that would get the region get
	// another one; Reason says why.
	InAnswers bool   `json:"in_answers"`
	Reason    string `json:"reason,omitempty"`
	// FailoverTo is the target of a manual failover away from the region.
	FailoverTo string `json:"failover_to,omitempty"`
	// Services are the load-balanced names that use the region.
	Services []string `json:"services"`
}

type locationView struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// healthView is a region's health.
type healthView struct {
	// Status is up, down or pending (not checked yet).
	Status string `json:"status"`
	// Stale is set when the last check is older than the checker allows.
	Stale                bool        `json:"stale"`
	LatencyMS            float64     `json:"latency_ms"`
	LastCheck            *time.Time  `json:"last_check,omitempty"`
	Since                *time.Time  `json:"since,omitempty"`
	Reason               string      `json:"reason,omitempty"`
	ConsecutiveFailures  int         `json:"consecutive_failures"`
	ConsecutiveSuccesses int         `json:"consecutive_successes"`
	LastResult           *resultView `json:"last_result,omitempty"`
}

// resultView is one check's result.
type resultView struct {
	Time      time.Time `json:"time"`
	OK        bool      `json:"ok"`
	LatencyMS float64   `json:"latency_ms"`
	Status    int       `json:"status,omitempty"`
	Error     string    `json:"error,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func newResultView(r health.Result) resultView {
	return resultView{Time: r.Time, OK: r.OK, LatencyMS: ms(r.Latency), Status: r.Status, Error: r.Error}
}

// views builds region views from one snapshot and one read of the
// checker's states.
type views struct {
	snap     *balancer.Snapshot
	states   map[string]health.State
	added    map[string]zones.RegionSpec
	services map[string][]string // region → services using it
}

func (s *Server) views() *views {
	v := &views{snap: s.opts.Store.Load(), added: s.opts.Control.Runtime().Regions, services: map[string][]string{}}
	if s.opts.Health != nil {
		v.states = s.opts.Health.States()
	}
	for _, z := range v.snap.Zones.Zones {
		for _, name := range slices.Sorted(maps.Keys(z.Nodes)) {
			if svc := z.Nodes[name].Service; svc != nil {
				for _, r := range v.snap.Zones.ServiceRegions(svc) {
					v.services[r.Name] = append(v.services[r.Name], svc.Name)
				}
			}
		}
	}
	return v
}

func (v *views) regions() []regionView {
	out := make([]regionView, 0, len(v.snap.Zones.RegionNames))
	for _, name := range v.snap.Zones.RegionNames {
		out = append(out, v.region(v.snap.Zones.Regions[name]))
	}
	return out
}

func (v *views) region(r *zones.Region) regionView {
	rv := regionView{
		Region: r.Name, Endpoint: r.Endpoint, Source: "zones", Weight: r.Weight, CNAME: r.CNAME,
		Countries: r.Countries, Continents: r.Continents, AdminState: "auto",
		Services: v.services[r.Name],
	}
	if rv.Services == nil {
		rv.Services = []string{}
	}
	if _, ok := v.added[r.Name]; ok {
		rv.Source = "api"
	}
	for _, a := range slices.Concat(r.IPv4, r.IPv6) {
		rv.Addresses = append(rv.Addresses, a.String())
	}
	if r.Location != nil {
		rv.Location = &locationView{Latitude: r.Location.Latitude, Longitude: r.Location.Longitude}
	}
	if st := v.snap.Admin[r.Name]; st != balancer.AdminAuto {
		rv.AdminState = string(st)
	}
	rv.Reason = v.snap.Exclusion(r.Name)
	rv.InAnswers = rv.Reason == ""
	if f, ok := v.snap.Failovers[r.Name]; ok {
		rv.FailoverTo = f.To
	}
	rv.Health = v.health(r.Name)
	return rv
}

// health reports the checker's state of a region, or without a checker
// what the snapshot's health view says.
func (v *views) health(name string) healthView {
	if v.states == nil {
		h, ok := v.snap.Health[name]
		hv := healthView{Status: "pending", Stale: h.Stale, LatencyMS: ms(h.Latency), Since: timePtr(h.Since), Reason: h.Reason}
		switch {
		case ok && h.Down:
			hv.Status = "down"
		case ok:
			hv.Status = "up"
		}
		return hv
	}
	st, ok := v.states[name]
	if !ok {
		return healthView{Status: "pending"}
	}
	hv := healthView{
		Status: "down", Stale: st.Stale, LatencyMS: ms(st.Latency), LastCheck: timePtr(st.LastCheck),
		Since: timePtr(st.Since), Reason: st.Reason,
		ConsecutiveFailures: st.ConsecutiveFailures, ConsecutiveSuccesses: st.ConsecutiveSuccesses,
	}
	switch {
	case !st.Checked:
		hv.Status = "pending"
	case st.Up:
		hv.Status = "up"
	}
	if !st.LastResult.Time.IsZero() {
		r := newResultView(st.LastResult)
		hv.LastResult = &r
	}
	return hv
}

// zoneSummary is a zone in the zones list.
type zoneSummary struct {
	Zone     string   `json:"zone"`
	File     string   `json:"file"`
	Serial   uint32   `json:"serial"`
	Names    int      `json:"names"`
	Services []string `json:"services"`
}

// zoneView is a zone with its records and services.
type zoneView struct {
	Zone   string `json:"zone"`
	File   string `json:"file"`
	Serial uint32 `json:"serial"`
	// Records in presentation format, sorted by name (canonical order)
	// and type.
	Records  []string      `json:"records"`
	Services []serviceView `json:"services"`
}

// serviceView is a load-balanced name with its settings in force.
type serviceView struct {
	Name string `json:"name"`
	// Strategy is the service's own, "" when it follows the default;
	// EffectiveStrategy is the one in force.
	Strategy          string `json:"strategy"`
	EffectiveStrategy string `json:"effective_strategy"`
	TTL               uint32 `json:"ttl"`
	Answers           int    `json:"answers"`
	// Regions it balances over, in order; AllRegions says it lists none
	// of its own and so balances over every region.
	Regions    []string          `json:"regions"`
	AllRegions bool              `json:"all_regions"`
	Default    string            `json:"default,omitempty"`
	Nets       []netOverrideView `json:"nets,omitempty"`
	Fallback   []string          `json:"fallback,omitempty"`
	Backup     string            `json:"backup,omitempty"`
}

type netOverrideView struct {
	Network string `json:"network"`
	Region  string `json:"region"`
}

func summarize(z *zones.Zone) zoneSummary {
	zs := zoneSummary{Zone: z.Origin, File: z.File, Names: len(z.Nodes), Services: []string{}}
	if z.SOA != nil {
		zs.Serial = z.SOA.Serial
	}
	for _, name := range sortedNames(z) {
		if z.Nodes[name].Service != nil {
			zs.Services = append(zs.Services, name)
		}
	}
	return zs
}

func zoneDetail(snap *balancer.Snapshot, z *zones.Zone) zoneView {
	sum := summarize(z)
	zv := zoneView{Zone: sum.Zone, File: sum.File, Serial: sum.Serial, Records: []string{}, Services: []serviceView{}}
	for _, name := range sortedNames(z) {
		node := z.Nodes[name]
		for _, typ := range slices.Sorted(maps.Keys(node.Records)) {
			for _, rr := range node.Records[typ] {
				zv.Records = append(zv.Records, rr.String())
			}
		}
		svc := node.Service
		if svc == nil {
			continue
		}
		sv := serviceView{
			Name: svc.Name, Strategy: svc.Strategy, EffectiveStrategy: string(snap.Strategy(svc)), TTL: svc.TTL,
			Answers: max(svc.Answers, 1), Regions: []string{}, AllRegions: len(svc.Regions) == 0,
			Default: svc.Default, Fallback: svc.Fallback, Backup: svc.Backup,
		}
		for _, r := range snap.Zones.ServiceRegions(svc) {
			sv.Regions = append(sv.Regions, r.Name)
		}
		for _, o := range svc.Nets {
			sv.Nets = append(sv.Nets, netOverrideView{Network: o.Prefix.String(), Region: o.Region})
		}
		zv.Services = append(zv.Services, sv)
	}
	return zv
}

// sortedNames orders a zone's owner names as DNSSEC canonical order does:
// by labels from the right, so a name's children follow it.
func sortedNames(z *zones.Zone) []string {
	names := slices.Collect(maps.Keys(z.Nodes))
	slices.SortFunc(names, func(a, b string) int {
		la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
		slices.Reverse(la)
		slices.Reverse(lb)
		return slices.Compare(la, lb)
	})
	return names
}
