package balancer

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geodns/geodns/geo"
	"github.com/geodns/geodns/zones"
)

// RegionHealth is what the health checker knows of one region.
type RegionHealth struct {
	// Down is true when the region failed its checks (or was drained).
	Down bool
	// Latency is the smoothed check round-trip time; 0 means not measured.
	Latency time.Duration
	// Reason says why the region is in this state, for explanations.
	Reason string
	// Since is when the region entered this state.
	Since time.Time
	// Stale is set when the last check is older than the checker allows:
	// the state is kept, but reported as stale.
	Stale bool
}

// HealthView maps region names to their health. A region missing from the
// view is healthy and unmeasured. Views are immutable once published.
type HealthView map[string]RegionHealth

// Snapshot is everything the query path needs, built whole and never
// modified after it is published: queries read it without locks.
type Snapshot struct {
	Zones *zones.Set
	// Geo locates clients; nil when the server runs without a database.
	Geo geo.Locator
	// DefaultStrategy applies to services that name none.
	DefaultStrategy Strategy
	Health          HealthView
	// IgnoreHealth is FAILOVER_ENABLED=false: health is measured and
	// reported, but answers do not depend on it.
	IgnoreHealth bool
	// Admin holds operators' force-up / force-down overrides by region.
	Admin map[string]AdminState
	// Failovers holds manual failovers by source region.
	Failovers map[string]ManualFailover
	// NodeID answers NSID and CHAOS id.server queries.
	NodeID string

	// rotation holds one counter per service name for round robin and the
	// weighted sequence. Counters are shared between snapshots (see Store)
	// so a new snapshot does not restart every rotation.
	rotation map[string]*atomic.Uint64
	// stats is shared by every snapshot of a Store.
	stats *Stats
	// memo remembers this snapshot's geo decisions per client network.
	memo *geoMemo
}

// Stats counts decisions across snapshots.
type Stats struct {
	// FailOpen counts answers given while every region of the service
	// was down.
	FailOpen atomic.Uint64
}

// Stats returns the counters shared by every snapshot of the store.
func (st *Store) Stats() *Stats { return st.cur.Load().stats }

// AllDown lists the services whose every region is down in this snapshot:
// their answers fail open (or use their backup).
func (s *Snapshot) AllDown() []string {
	var out []string
	for _, z := range s.Zones.Zones {
		for _, n := range z.Nodes {
			if n.Service == nil {
				continue
			}
			regions := s.Zones.ServiceRegions(n.Service)
			all := len(regions) > 0
			for _, r := range regions {
				all = all && s.down(r.Name)
			}
			if all {
				out = append(out, n.Service.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Strategy returns the strategy in force for svc.
func (s *Snapshot) Strategy(svc *zones.Service) Strategy {
	if svc.Strategy != "" {
		return Strategy(svc.Strategy)
	}
	return s.DefaultStrategy
}

// counter returns the rotation counter of a service; services published
// in the snapshot always have one.
func (s *Snapshot) counter(svc *zones.Service) *atomic.Uint64 {
	if c := s.rotation[svc.Name]; c != nil {
		return c
	}
	// A service not known at publication (a snapshot built by hand in a
	// test or by `zone resolve`) rotates from zero.
	return new(atomic.Uint64)
}

// Store publishes snapshots. Readers call Load on every query; writers
// (reloads, health changes, the API) call Update, which serialises them.
type Store struct {
	cur atomic.Pointer[Snapshot]
	mu  sync.Mutex
}

// NewStore publishes the first snapshot.
func NewStore(first *Snapshot) *Store {
	st := &Store{}
	st.cur.Store(prepare(first, nil))
	return st
}

// Load returns the current snapshot.
func (st *Store) Load() *Snapshot { return st.cur.Load() }

// Update builds the next snapshot from the current one and publishes it.
// change receives a shallow copy it may modify freely (replacing, never
// mutating, the maps and sets it shares with the old snapshot).
func (st *Store) Update(change func(next *Snapshot)) *Snapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	old := st.cur.Load()
	next := *old
	change(&next)
	published := prepare(&next, old)
	st.cur.Store(published)
	return published
}

// prepare fills the rotation counters, keeping those of services that
// already existed in the previous snapshot.
func prepare(s, prev *Snapshot) *Snapshot {
	rot := make(map[string]*atomic.Uint64)
	for _, z := range s.Zones.Zones {
		for _, n := range z.Nodes {
			if n.Service == nil {
				continue
			}
			if prev != nil && prev.rotation[n.Service.Name] != nil {
				rot[n.Service.Name] = prev.rotation[n.Service.Name]
			} else {
				rot[n.Service.Name] = new(atomic.Uint64)
			}
		}
	}
	s.rotation = rot
	s.memo = newGeoMemo()
	s.stats = new(Stats)
	if prev != nil {
		s.stats = prev.stats
	}
	if s.Health == nil {
		s.Health = HealthView{}
	}
	if s.DefaultStrategy == "" {
		s.DefaultStrategy = RoundRobin
	}
	return s
}
