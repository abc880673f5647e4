package balancer

import (
	"github.com/geodns/geodns/zones"
)

// AdminState and ManualFailover are the operator overrides the zones
// package persists; see zones.AdminState and zones.Failover.
type (
	AdminState     = zones.AdminState
	ManualFailover = zones.Failover
)

// The admin states.
const (
	AdminAuto = zones.AdminAuto
	ForceUp   = zones.ForceUp
	ForceDown = zones.ForceDown
)

// down reports whether region name must stay out of answers: drained, or
// failed its checks while failover is on and no one forced it up.
func (s *Snapshot) down(name string) bool {
	switch s.Admin[name] {
	case ForceDown:
		return true
	case ForceUp:
		return false
	}
	return !s.IgnoreHealth && s.Health[name].Down
}

// downReason says why a region that is down is out of answers.
func (s *Snapshot) downReason(name string) string {
	if s.Admin[name] == ForceDown {
		return "drained by an operator (force-down)"
	}
	if r := s.Health[name].Reason; r != "" {
		return r
	}
	return "failed its health checks"
}

// Exclusion says why clients that would get region name get another
// region instead, or returns "" when the region is answered: drained by
// an operator, down after its health checks (the checker's reason), or
// moved by a manual failover. A region down while FAILOVER_ENABLED=false
// is answered all the same, so it has no exclusion.
func (s *Snapshot) Exclusion(name string) string {
	if s.down(name) {
		return s.downReason(name)
	}
	if f, ok := s.Failovers[name]; ok && s.Zones.Regions[f.To] != nil {
		why := "manual failover to " + f.To
		if f.Reason != "" {
			why += ": " + f.Reason
		}
		return why
	}
	return ""
}

// applyFailovers replaces regions under a manual failover by their target.
// One hop only: A→B and B→C send A's clients to B, so a cycle cannot loop.
func (s *Snapshot) applyFailovers(d Decision) Decision {
	if len(s.Failovers) == 0 {
		return d
	}
	for i, r := range d.Regions {
		f, ok := s.Failovers[r.Name]
		if !ok {
			continue
		}
		to := s.Zones.Regions[f.To]
		if to == nil {
			continue
		}
		d.Moved = append(d.Moved, Move{From: r.Name, To: to.Name})
		d.Regions[i] = to
	}
	d.Regions = dedupe(d.Regions)
	return d
}

func dedupe(rs []*zones.Region) []*zones.Region {
	out := rs[:0]
	for _, r := range rs {
		out = appendNew(out, r)
	}
	return out
}
