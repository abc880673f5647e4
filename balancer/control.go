package balancer

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/geodns/geodns/zones"
)

// ErrNotFound marks errors about a region (or service, or failover) that
// does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict marks errors about a change that clashes with the current
// state: a region that already exists, a region whose removal would leave
// a service without regions.
var ErrConflict = errors.New("conflict")

// FieldError is an operator request that cannot be applied, naming the
// field at fault (by its JSON name). It wraps ErrNotFound for unknown
// regions and ErrConflict for clashes.
type FieldError struct {
	Field string
	Msg   string
	err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return e.err }

func unknownRegion(field, name string) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf("unknown region %q", name), err: ErrNotFound}
}

// Control applies operators' changes (regions, weights, default strategy,
// admin states, manual failover) and health updates. It keeps the Set
// loaded from the zone files as its base and publishes the base with the
// runtime state applied (zones.Set.WithRuntime) after every change. Each
// change is persisted before it is published, and a change that cannot be
// persisted is not applied at all.
type Control struct {
	store   *Store
	persist func(zones.Runtime) error
	now     func() time.Time

	// OnRegions, when set, is called with the new Set after every change
	// of the regions (added, removed, or their endpoint or check changed
	// by a reload), so that health checks follow. It is called with the
	// control's lock held, in the order of the changes, so it must not
	// call the Control. Set it before the Control is used concurrently.
	OnRegions func(*zones.Set)

	mu           sync.Mutex
	rt           zones.Runtime
	base         *zones.Set
	baseStrategy Strategy
	set          *zones.Set // base.WithRuntime(rt), as published
	loadErr      error
}

// NewControl publishes rt over the store's snapshot and returns the
// control that changes it from now on. The snapshot's zones and default
// strategy become the base that rt applies to. persist writes the runtime
// state (nil: changes are not persisted).
//
// Parts of rt that no longer fit the zone files (a region added through
// the API that a zone file now defines, say) are left out: the zone files
// win. LoadError says what was left out.
func NewControl(store *Store, rt zones.Runtime, persist func(zones.Runtime) error) *Control {
	if persist == nil {
		persist = func(zones.Runtime) error { return nil }
	}
	cur := store.Load()
	c := &Control{store: store, persist: persist, now: time.Now, base: cur.Zones, baseStrategy: cur.DefaultStrategy}
	c.set, c.rt, c.loadErr = reconcile(c.base, rt)
	store.Update(func(s *Snapshot) { c.apply(s) })
	return c
}

// LoadError describes the parts of the runtime state that NewControl or
// the last Reload left out because they no longer fit the zone files, or
// is nil.
func (c *Control) LoadError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadErr
}

// Reload replaces the base Set (after the zone files were read again) and
// publishes it with the runtime state applied. Runtime state that no
// longer fits the new zone files is left out, as in NewControl, and the
// error says what; the reload itself has happened all the same.
func (c *Control) Reload(base *zones.Set) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.set
	c.base = base
	c.set, c.rt, c.loadErr = reconcile(base, c.rt)
	c.store.Update(func(s *Snapshot) { c.apply(s) })
	c.regionsChanged(prev)
	return c.loadErr
}

// reconcile applies rt to base, leaving out whatever cannot be applied
// until the rest can, and returns what was left out as an error.
func reconcile(base *zones.Set, rt zones.Runtime) (*zones.Set, zones.Runtime, error) {
	rt = rt.Clone()
	var dropped []error
	if rt.Strategy != "" {
		if _, err := ParseStrategy(rt.Strategy); err != nil {
			dropped = append(dropped, fmt.Errorf("default strategy left out: %w", err))
			rt.Strategy, rt.StrategyParameters = "", nil
		}
	}
	for {
		set, err := base.WithRuntime(rt)
		if err == nil {
			return set, rt, errors.Join(dropped...)
		}
		var re *zones.RuntimeError
		_, added := rt.Regions[""]
		if errors.As(err, &re) {
			_, added = rt.Regions[re.Region]
		}
		switch {
		case re == nil:
			// Not expected from WithRuntime: serve the zone files as
			// they are rather than nothing.
			dropped = append(dropped, fmt.Errorf("regions and weights set through the API left out: %w", err))
			rt.Regions, rt.Removed, rt.Weights = nil, nil, nil
		case re.Field == "weight":
			dropped = append(dropped, fmt.Errorf("weight of region %s left out: %w", re.Region, err))
			delete(rt.Weights, re.Region)
		case added:
			dropped = append(dropped, fmt.Errorf("region %s added through the API left out: %w", re.Region, err))
			delete(rt.Regions, re.Region)
		case slices.Contains(rt.Removed, re.Region):
			dropped = append(dropped, fmt.Errorf("removal of region %s undone: %w", re.Region, err))
			rt.Removed = slices.DeleteFunc(rt.Removed, func(n string) bool { return n == re.Region })
		default:
			dropped = append(dropped, fmt.Errorf("regions and weights set through the API left out: %w", err))
			rt.Regions, rt.Removed, rt.Weights = nil, nil, nil
		}
	}
}

// apply copies the runtime state into a snapshot being built.
func (c *Control) apply(s *Snapshot) {
	s.Zones = c.set
	s.DefaultStrategy = c.baseStrategy
	if c.rt.Strategy != "" {
		s.DefaultStrategy = Strategy(c.rt.Strategy)
	}
	s.Admin = maps.Clone(c.rt.Admin)
	s.Failovers = maps.Clone(c.rt.Failovers)
}

// change runs edit on a copy of the runtime state, applies the copy to
// the base Set, persists it and publishes it; on error nothing changes.
func (c *Control) change(edit func(rt *zones.Runtime) error) error {
	_, err := c.changeSet(edit)
	return err
}

// changeSet is change, returning the Set it published.
func (c *Control) changeSet(edit func(rt *zones.Runtime) error) (*zones.Set, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.rt.Clone()
	if err := edit(&next); err != nil {
		return nil, err
	}
	set, err := c.base.WithRuntime(next)
	if err != nil {
		return nil, fieldError(err)
	}
	if err := c.persist(next); err != nil {
		return nil, err
	}
	prev := c.set
	c.rt, c.set = next, set
	c.store.Update(func(s *Snapshot) { c.apply(s) })
	c.regionsChanged(prev)
	return set, nil
}

// fieldError turns a zones.RuntimeError into the FieldError the API
// reports.
func fieldError(err error) error {
	var re *zones.RuntimeError
	if !errors.As(err, &re) {
		return err
	}
	fe := &FieldError{Field: re.Field, Msg: re.Msg}
	if re.Conflict {
		fe.err = ErrConflict
	}
	return fe
}

// regionsChanged calls OnRegions when the regions health checks follow
// differ between prev and the current set.
func (c *Control) regionsChanged(prev *zones.Set) {
	if c.OnRegions == nil || sameTargets(prev, c.set) {
		return
	}
	c.OnRegions(c.set)
}

func sameTargets(a, b *zones.Set) bool {
	if !slices.Equal(a.RegionNames, b.RegionNames) {
		return false
	}
	for name, ra := range a.Regions {
		rb := b.Regions[name]
		if ra != rb && (ra.Endpoint != rb.Endpoint || ra.Check != rb.Check) {
			return false
		}
	}
	return true
}

// Runtime returns a copy of the runtime state in force.
func (c *Control) Runtime() zones.Runtime {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rt.Clone()
}

// AddRegion adds a region. The spec is checked as a zone-file region is;
// a region of the same name must not exist (ErrConflict), and the
// services it names must (ErrNotFound). The new region is in answers from
// the next query on, as its services' strategies decide.
func (c *Control) AddRegion(spec zones.RegionSpec) (*zones.Region, error) {
	set, err := c.changeSet(func(rt *zones.Runtime) error {
		name := spec.Region
		switch {
		case name == "":
			return &FieldError{Field: "region", Msg: "required"}
		case c.set.Regions[name] != nil:
			return &FieldError{Field: "region", Msg: fmt.Sprintf("region %q already exists", name), err: ErrConflict}
		}
		spec.Services = slices.Clone(spec.Services)
		for i, svc := range spec.Services {
			fqdn := dns.CanonicalName(svc)
			if _, ok := dns.IsDomainName(fqdn); !ok || svc == "" {
				return &FieldError{Field: "services", Msg: fmt.Sprintf("%q is not a domain name", svc)}
			}
			if findService(c.set, fqdn) == nil {
				return &FieldError{Field: "services", Msg: fmt.Sprintf("no service %s", fqdn), err: ErrNotFound}
			}
			if slices.Contains(spec.Services[:i], fqdn) {
				return &FieldError{Field: "services", Msg: fmt.Sprintf("%s is listed twice", fqdn)}
			}
			spec.Services[i] = fqdn
		}
		if rt.Regions == nil {
			rt.Regions = map[string]zones.RegionSpec{}
		}
		rt.Regions[name] = spec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return set.Regions[spec.Region], nil
}

func findService(set *zones.Set, name string) *zones.Service {
	if z := set.Find(name); z != nil {
		if n := z.Nodes[name]; n != nil {
			return n.Service
		}
	}
	return nil
}

// RemoveRegion takes a region out of the set, and so out of answers from
// the next query on, whether it came from the zone files, the environment
// or the API. Its weight, admin state and manual failovers away from it go
// with it. A region that a manual failover sends clients to, or whose
// removal would leave a service without regions, stays (ErrConflict).
func (c *Control) RemoveRegion(name string) error {
	return c.change(func(rt *zones.Runtime) error {
		if c.set.Regions[name] == nil {
			return unknownRegion("region", name)
		}
		for _, from := range slices.Sorted(maps.Keys(rt.Failovers)) {
			if rt.Failovers[from].To == name {
				return &FieldError{Field: "region", err: ErrConflict,
					Msg: fmt.Sprintf("the manual failover from %s sends clients to %s: clear it first", from, name)}
			}
		}
		delete(rt.Regions, name)
		if c.base.Regions[name] != nil && !slices.Contains(rt.Removed, name) {
			rt.Removed = append(rt.Removed, name)
			slices.Sort(rt.Removed)
		}
		delete(rt.Weights, name)
		delete(rt.Admin, name)
		delete(rt.Failovers, name)
		return nil
	})
}

// SetWeight replaces a region's weight (a finite number >= 0; 0 drains
// it from weighted choices).
func (c *Control) SetWeight(name string, w float64) error {
	return c.change(func(rt *zones.Runtime) error {
		switch {
		case c.set.Regions[name] == nil:
			return unknownRegion("region", name)
		case math.IsNaN(w) || math.IsInf(w, 0) || w < 0:
			return &FieldError{Field: "weight", Msg: fmt.Sprintf("must be a finite number >= 0, not %v", w)}
		}
		if rt.Weights == nil {
			rt.Weights = map[string]float64{}
		}
		rt.Weights[name] = w
		return nil
	})
}

// SetStrategy replaces the default strategy, the one services that name
// none follow, and its parameters (see zones.Runtime.StrategyParameters).
func (c *Control) SetStrategy(name string, params map[string]any) error {
	return c.change(func(rt *zones.Runtime) error {
		st, err := ParseStrategy(name)
		if err != nil {
			return &FieldError{Field: "strategy", Msg: err.Error()}
		}
		norm, err := strategyParameters(params)
		if err != nil {
			return err
		}
		rt.Strategy, rt.StrategyParameters = string(st), norm
		return nil
	})
}

// strategyParameters checks the parameters and returns them as the state
// file reads them back (numbers as float64), nil when there are none.
func strategyParameters(params map[string]any) (map[string]any, error) {
	if len(params) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(params))
	for _, key := range slices.Sorted(maps.Keys(params)) {
		field := "parameters." + key
		if key != zones.ParameterAnswers {
			return nil, &FieldError{Field: field, Msg: "unknown parameter (the parameters are: answers)"}
		}
		var n float64
		switch v := params[key].(type) {
		case float64:
			n = v
		case int:
			n = float64(v)
		default:
			return nil, &FieldError{Field: field, Msg: fmt.Sprintf("must be an integer >= 1, not %v", v)}
		}
		if n < 1 || n > math.MaxInt32 || n != math.Trunc(n) {
			return nil, &FieldError{Field: field, Msg: fmt.Sprintf("must be an integer >= 1, not %v", n)}
		}
		out[key] = n
	}
	return out, nil
}

// TriggerFailover sends every client that would get from to region to.
func (c *Control) TriggerFailover(from, to, reason string) (ManualFailover, error) {
	f := ManualFailover{From: from, To: to, Reason: reason, Since: c.now().UTC()}
	err := c.change(func(rt *zones.Runtime) error {
		regions := c.set.Regions
		switch {
		case from == "":
			return &FieldError{Field: "from_region", Msg: "required"}
		case to == "":
			return &FieldError{Field: "to_region", Msg: "required"}
		case regions[from] == nil:
			return unknownRegion("from_region", from)
		case regions[to] == nil:
			return unknownRegion("to_region", to)
		case from == to:
			return &FieldError{Field: "to_region", Msg: "a region cannot fail over to itself"}
		}
		if rt.Failovers == nil {
			rt.Failovers = map[string]ManualFailover{}
		}
		rt.Failovers[from] = f
		return nil
	})
	return f, err
}

// ClearFailover ends the manual failover away from region from.
func (c *Control) ClearFailover(from string) error {
	return c.change(func(rt *zones.Runtime) error {
		if _, ok := rt.Failovers[from]; !ok {
			return &FieldError{Field: "from_region", Msg: fmt.Sprintf("no manual failover from %q", from), err: ErrNotFound}
		}
		delete(rt.Failovers, from)
		return nil
	})
}

// SetAdmin sets a region's admin state (AdminAuto clears it).
func (c *Control) SetAdmin(region string, st AdminState) error {
	return c.change(func(rt *zones.Runtime) error {
		if c.set.Regions[region] == nil {
			return unknownRegion("region", region)
		}
		if st == AdminAuto {
			delete(rt.Admin, region)
			return nil
		}
		if rt.Admin == nil {
			rt.Admin = map[string]AdminState{}
		}
		rt.Admin[region] = st
		return nil
	})
}

// SetHealth publishes a new health view.
func (c *Control) SetHealth(view HealthView) {
	c.store.Update(func(s *Snapshot) { s.Health = view })
}

// AutomaticFailover is a region out of answers because of its health
// checks (or an operator's drain).
type AutomaticFailover struct {
	Region string    `json:"region"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

// FailoverStatus lists every failover in effect: manual ones, and regions
// kept out of answers by failed checks or a drain, sorted by region.
func (c *Control) FailoverStatus() ([]ManualFailover, []AutomaticFailover) {
	s := c.store.Load()
	manual := make([]ManualFailover, 0, len(s.Failovers))
	for _, f := range s.Failovers {
		manual = append(manual, f)
	}
	sort.Slice(manual, func(i, j int) bool { return manual[i].From < manual[j].From })
	var auto []AutomaticFailover
	for _, name := range s.Zones.RegionNames {
		if !s.down(name) {
			continue
		}
		h := s.Health[name]
		auto = append(auto, AutomaticFailover{Region: name, Since: h.Since, Reason: s.downReason(name)})
	}
	return manual, auto
}
