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
