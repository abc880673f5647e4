package balancer

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/zones"
)

func TestNewStoreDefaults(t *testing.T) {
	svc := service("", 1)
	first := &Snapshot{Zones: newSet(svc, plain("a", "b")), NodeID: "node-1"}
	st := NewStore(first)
	snap := st.Load()
	require.Same(t, first, snap)
	require.Equal(t, RoundRobin, snap.DefaultStrategy)
	require.NotNil(t, snap.Health)
	require.Contains(t, snap.rotation, svc.Name)
	require.Equal(t, "node-1", snap.NodeID)
}

func TestStoreUpdate(t *testing.T) {
	tests := []struct {
		name string
		// change is applied by Update; check inspects old and new.
		change func(next *Snapshot)
		check  func(t *testing.T, old, next *Snapshot)
	}{
		{
			name:   "health replaced",
			change: func(next *Snapshot) { next.Health = down("b") },
			check: func(t *testing.T, old, next *Snapshot) {
				require.Empty(t, old.Health, "old snapshot untouched")
				require.True(t, next.Health["b"].Down)
			},
		},
		{
			name:   "default strategy replaced",
			change: func(next *Snapshot) { next.DefaultStrategy = Geo },
			check: func(t *testing.T, old, next *Snapshot) {
				require.Equal(t, RoundRobin, old.DefaultStrategy)
				require.Equal(t, Geo, next.DefaultStrategy)
			},
		},
		{
			name:   "health set to nil is filled",
			change: func(next *Snapshot) { next.Health = nil },
			check: func(t *testing.T, old, next *Snapshot) {
				require.NotNil(t, next.Health)
			},
		},
		{
			name:   "no change still publishes a new snapshot",
			change: func(*Snapshot) {},
			check: func(t *testing.T, old, next *Snapshot) {
				require.Same(t, old.Zones, next.Zones)
				require.Equal(t, old.rotation, next.rotation)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service("", 1)
			st := NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b"))})
			old := st.Load()
			next := st.Update(tt.change)
			require.NotSame(t, old, next)
			require.Same(t, next, st.Load(), "Load returns the published snapshot")
			tt.check(t, old, next)
		})
	}
}

func TestStoreRotationCarriesOver(t *testing.T) {
	svc := service(RoundRobin, 1)
	st := NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b", "c"))})
	decide := func() string { return st.Load().Decide(svc, Client{}).Regions[0].Name }

	require.Equal(t, "a", decide())
	require.Equal(t, "b", decide())
	st.Update(func(next *Snapshot) { next.NodeID = "other" })
	require.Equal(t, "c", decide(), "round robin continues across Update")
	require.Equal(t, "a", decide())

	// A reload that rebuilds the zones (new Service value, same name)
	// keeps the counter too.
	svc2 := service(RoundRobin, 1)
	st.Update(func(next *Snapshot) { next.Zones = newSet(svc2, plain("a", "b", "c")) })
	require.Equal(t, "b", st.Load().Decide(svc2, Client{}).Regions[0].Name)

	// A service that disappears loses its counter; one that (re)appears
	// starts from zero.
	other := &zones.Service{Name: "api." + testZoneName}
	st.Update(func(next *Snapshot) { next.Zones = newSet(other, plain("a", "b", "c")) })
	require.NotContains(t, st.Load().rotation, svc.Name)
	st.Update(func(next *Snapshot) { next.Zones = newSet(svc, plain("a", "b", "c")) })
	require.Equal(t, "a", decide(), "a re-added service starts over")
}

func TestStoreSharedCounterAcrossServicesIsPerName(t *testing.T) {
	a := service(RoundRobin, 1)
	b := &zones.Service{Name: "api." + testZoneName, Strategy: string(RoundRobin)}
	set := newSet(a, plain("x", "y"))
	set.Zones[0].Nodes[b.Name] = &zones.Node{Name: b.Name, Service: b}
	snap := NewStore(&Snapshot{Zones: set}).Load()
	require.Equal(t, "x", snap.Decide(a, Client{}).Regions[0].Name)
	require.Equal(t, "y", snap.Decide(a, Client{}).Regions[0].Name)
	require.Equal(t, "x", snap.Decide(b, Client{}).Regions[0].Name, "each service rotates on its own")
}

func TestUnpublishedServiceRotatesFromZero(t *testing.T) {
	// A snapshot built by hand (zone resolve) has no counters: every
	// decision starts a fresh rotation and nothing panics.
	svc := service(RoundRobin, 1)
	snap := &Snapshot{Zones: newSet(svc, plain("a", "b")), Health: HealthView{}}
	for range 3 {
		require.Equal(t, "a", snap.Decide(svc, Client{}).Regions[0].Name)
	}
}

// TestStoreConcurrentUpdate is meant for -race: readers decide on whatever
// snapshot Load returns while a writer publishes 100 updates.
func TestStoreConcurrentUpdate(t *testing.T) {
	const (
		readers   = 4
		perReader = 2000
		updates   = 100
	)
	all := []string{"a", "b", "c"}
	for _, st := range Strategies {
		t.Run(string(st), func(t *testing.T) {
			svc := service(st, 2)
			regions := plain(all...)
			for i, r := range regions {
				r.Location = []*zones.LatLon{virginia, frankfurt, singapore}[i]
			}
			store := NewStore(&Snapshot{Zones: newSet(svc, regions)})
			client := located("192.0.2.1", "192.0.2.0/24", "JP", "AS", tokyo)

			var wg sync.WaitGroup
			errs := make(chan error, readers)
			for range readers {
				wg.Go(func() {
					for range perReader {
						d := store.Load().Decide(svc, client)
						if len(d.Regions) != 2 || d.Regions[0] == d.Regions[1] ||
							!slices.Contains(all, d.Regions[0].Name) || !slices.Contains(all, d.Regions[1].Name) {
							errs <- fmt.Errorf("bad decision %s", d.Explain())
							return
						}
					}
				})
			}
			for i := range updates {
				store.Update(func(next *Snapshot) {
					next.Health = down(all[i%len(all)])
					next.NodeID = fmt.Sprint("node-", i)
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			require.Equal(t, "node-99", store.Load().NodeID)
			if st == RoundRobin || st == Weighted {
				// Every decision advanced the one shared counter: none was
				// lost to a snapshot swap.
				require.Equal(t, uint64(readers*perReader), store.Load().rotation[svc.Name].Load())
			}
		})
	}
}
