package balancer

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/geodns/geodns/zones"
)

// ErrNotFound marks errors about a region that does not exist.
var ErrNotFound = errors.New("not found")

// FieldError is an operator request that cannot be applied, naming the
// field at fault. It wraps ErrNotFound for unknown regions.
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

// Control applies operators' changes (manual failover, admin states) and
// health updates. Each change is persisted before it is published, and a
// change that cannot be persisted is not applied at all.
type Control struct {
	store   *Store
	persist func(zones.Runtime) error
	now     func() time.Time

	mu sync.Mutex
	rt zones.Runtime
}

// NewControl publishes rt over the store's snapshot and returns the
// control that changes it from now on. persist writes the runtime state
// (nil: changes are not persisted).
func NewControl(store *Store, rt zones.Runtime, persist func(zones.Runtime) error) *Control {
	if persist == nil {
		persist = func(zones.Runtime) error { return nil }
	}
	c := &Control{store: store, persist: persist, now: time.Now, rt: rt}
	store.Update(func(s *Snapshot) { c.apply(s) })
	return c
}

// apply copies the runtime state into a snapshot being built.
func (c *Control) apply(s *Snapshot) {
	s.Admin = maps.Clone(c.rt.Admin)
	s.Failovers = maps.Clone(c.rt.Failovers)
}

// change runs edit on a copy of the runtime state, persists the copy and
// publishes it; on error nothing changes.
func (c *Control) change(edit func(rt *zones.Runtime) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := zones.Runtime{Admin: maps.Clone(c.rt.Admin), Failovers: maps.Clone(c.rt.Failovers)}
	if err := edit(&next); err != nil {
		return err
	}
	if err := c.persist(next); err != nil {
		return err
	}
	c.rt = next
	c.store.Update(func(s *Snapshot) { c.apply(s) })
	return nil
}

// TriggerFailover sends every client that would get from to region to.
func (c *Control) TriggerFailover(from, to, reason string) (ManualFailover, error) {
	f := ManualFailover{From: from, To: to, Reason: reason, Since: c.now().UTC()}
	err := c.change(func(rt *zones.Runtime) error {
		regions := c.store.Load().Zones.Regions
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
		if c.store.Load().Zones.Regions[region] == nil {
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
		a := AutomaticFailover{Region: name, Since: h.Since, Reason: h.Reason}
		if s.Admin[name] == ForceDown {
			a.Reason = "drained by an operator (force-down)"
		}
		auto = append(auto, a)
	}
	return manual, auto
}
