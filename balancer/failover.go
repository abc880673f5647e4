package balancer

import (
	"fmt"
	"time"

	"github.com/geodns/geodns/zones"
)

// AdminState is an operator's override of a region's health, as gdnsd's
// admin_state: force-up answers the region whatever its checks say,
// force-down (drain) never answers it.
type AdminState string

// The admin states; "" leaves the region to its health checks.
const (
	AdminAuto AdminState = ""
	ForceUp   AdminState = "force-up"
	ForceDown AdminState = "force-down"
)

// ParseAdminState validates an admin state name ("auto" clears).
func ParseAdminState(s string) (AdminState, error) {
	switch s {
	case "", "auto":
		return AdminAuto, nil
	case string(ForceUp):
		return ForceUp, nil
	case string(ForceDown), "drain":
		return ForceDown, nil
	}
	return "", fmt.Errorf("unknown admin state %q (want auto, force-up or force-down)", s)
}

// ManualFailover sends every client that would have got one region to
// another, whatever the first one's health, until an operator clears it.
type ManualFailover struct {
	From   string    `json:"from_region"`
	To     string    `json:"to_region"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

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
