package balancer

import (
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/zones"
)

func newControl(t *testing.T, path string) (*Control, *Store, *zones.Service) {
	t.Helper()
	svc := service(RoundRobin, 1)
	store := NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b", "c"))})
	rt, err := zones.LoadRuntime(path)
	require.NoError(t, err)
	return NewControl(store, rt, func(rt zones.Runtime) error { return rt.Save(path) }), store, svc
}

func TestControlFailoverPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), zones.RuntimeFile)
	ctl, store, svc := newControl(t, path)
	f, err := ctl.TriggerFailover("a", "b", "maintenance")
	require.NoError(t, err)
	require.Equal(t, "maintenance", f.Reason)
	require.False(t, f.Since.IsZero())
	require.Equal(t, "b", store.Load().Decide(svc, Client{}).Regions[0].Name, "a's turn goes to b")
	require.NoError(t, ctl.SetAdmin("c", ForceDown))

	// A restart reads the same state back.
	ctl2, store2, svc2 := newControl(t, path)
	manual, auto := ctl2.FailoverStatus()
	require.Equal(t, []ManualFailover{f}, manual)
	require.Equal(t, []AutomaticFailover{{Region: "c", Reason: "drained by an operator (force-down)"}}, auto)
	for range 6 {
		require.Equal(t, "b", store2.Load().Decide(svc2, Client{}).Regions[0].Name)
	}

	require.NoError(t, ctl2.ClearFailover("a"))
	require.NoError(t, ctl2.SetAdmin("c", AdminAuto))
	rt, err := zones.LoadRuntime(path)
	require.NoError(t, err)
	require.Empty(t, rt.Failovers)
	require.Empty(t, rt.Admin)
}

func TestControlRejects(t *testing.T) {
	ctl, store, _ := newControl(t, filepath.Join(t.TempDir(), zones.RuntimeFile))
	before := store.Load()
	tests := []struct {
		name     string
		err      error
		field    string
		notFound bool
	}{
		{"unknown from", first(ctl.TriggerFailover("x", "b", "")), "from_region", true},
		{"unknown to", first(ctl.TriggerFailover("a", "y", "")), "to_region", true},
		{"to itself", first(ctl.TriggerFailover("a", "a", "")), "to_region", false},
		{"missing from", first(ctl.TriggerFailover("", "a", "")), "from_region", false},
		{"clear unknown", ctl.ClearFailover("a"), "from_region", true},
		{"admin unknown region", ctl.SetAdmin("x", ForceDown), "region", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fe *FieldError
			require.ErrorAs(t, tc.err, &fe)
			require.Equal(t, tc.field, fe.Field)
			require.Equal(t, tc.notFound, errors.Is(tc.err, ErrNotFound))
		})
	}
	require.Same(t, before, store.Load(), "rejected changes publish nothing")
}

func TestControlPersistFailureChangesNothing(t *testing.T) {
	svc := service(RoundRobin, 1)
	store := NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b"))})
	ctl := NewControl(store, zones.Runtime{}, func(zones.Runtime) error { return errors.New("disk full") })
	before := store.Load()
	_, err := ctl.TriggerFailover("a", "b", "")
	require.EqualError(t, err, "disk full")
	require.Same(t, before, store.Load())
	manual, _ := ctl.FailoverStatus()
	require.Empty(t, manual)
}

func first[T any](_ T, err error) error { return err }

// newDefaultControl is a control over regions a, b, c and one service over
// every region that follows the default strategy, persisting to path.
func newDefaultControl(t *testing.T, path string) (*Control, *Store, *zones.Service) {
	t.Helper()
	svc := service("", 1)
	store := NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b", "c")), DefaultStrategy: RoundRobin})
	rt, err := zones.LoadRuntime(path)
	require.NoError(t, err)
	ctl := NewControl(store, rt, func(rt zones.Runtime) error { return rt.Save(path) })
	require.NoError(t, ctl.LoadError())
	return ctl, store, svc
}

// firstNames returns the first region of n decisions.
func firstNames(store *Store, svc *zones.Service, n int) map[string]int {
	out := map[string]int{}
	for range n {
		snap := store.Load()
		out[snap.Decide(findService(snap.Zones, svc.Name), Client{}).Regions[0].Name]++
	}
	return out
}

func requireField(t *testing.T, err error, field string, marker error) {
	t.Helper()
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, field, fe.Field, fe.Error())
	if marker != nil {
		require.ErrorIs(t, err, marker)
	} else {
		require.NotErrorIs(t, err, ErrNotFound)
		require.NotErrorIs(t, err, ErrConflict)
	}
}

func TestControlAddRegion(t *testing.T) {
	path := filepath.Join(t.TempDir(), zones.RuntimeFile)
	ctl, store, svc := newDefaultControl(t, path)
	var synced []*zones.Set
	ctl.OnRegions = func(set *zones.Set) { synced = append(synced, set) }

	r, err := ctl.AddRegion(zones.RegionSpec{Region: "d", Endpoint: "https://192.0.2.4/"})
	require.NoError(t, err)
	require.Equal(t, "d", r.Name)
	require.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}, firstNames(store, svc, 4), "the service over every region rotates over d too")
	require.Len(t, synced, 1)
	require.Equal(t, []string{"a", "b", "c", "d"}, synced[0].RegionNames)

	before := store.Load()
	tests := []struct {
		name   string
		spec   zones.RegionSpec
		field  string
		marker error
	}{
		{"duplicate", zones.RegionSpec{Region: "d", Endpoint: "https://192.0.2.4/"}, "region", ErrConflict},
		{"duplicate of a zone region", zones.RegionSpec{Region: "a", Endpoint: "https://192.0.2.4/"}, "region", ErrConflict},
		{"no name", zones.RegionSpec{Endpoint: "https://192.0.2.4/"}, "region", nil},
		{"bad endpoint", zones.RegionSpec{Region: "e", Endpoint: "mailto:x@example.com"}, "endpoint", nil},
		{"negative weight", zones.RegionSpec{Region: "e", Endpoint: "https://192.0.2.5/", Weight: ptrTo(-1.0)}, "weight", nil},
		{"unknown service", zones.RegionSpec{Region: "e", Endpoint: "https://192.0.2.5/", Services: []string{"nope.example.test"}}, "services", ErrNotFound},
		{"service twice", zones.RegionSpec{Region: "e", Endpoint: "https://192.0.2.5/", Services: []string{"www.example.test", "WWW.example.test."}}, "services", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ctl.AddRegion(tc.spec)
			requireField(t, err, tc.field, tc.marker)
		})
	}
	require.Same(t, before, store.Load(), "rejected changes publish nothing")
	require.Len(t, synced, 1)

	// A restart reads the region back.
	_, store2, _ := newDefaultControl(t, path)
	require.NotNil(t, store2.Load().Zones.Region("d"))
}

func ptrTo[T any](v T) *T { return &v }

func TestControlRemoveRegion(t *testing.T) {
	path := filepath.Join(t.TempDir(), zones.RuntimeFile)
	ctl, store, svc := newDefaultControl(t, path)
	_, err := ctl.AddRegion(zones.RegionSpec{Region: "d", Endpoint: "https://192.0.2.4/"})
	require.NoError(t, err)
	require.NoError(t, ctl.SetAdmin("c", ForceDown))
	_, err = ctl.TriggerFailover("c", "a", "")
	require.NoError(t, err)
	require.NoError(t, ctl.SetWeight("c", 2))

	requireField(t, ctl.RemoveRegion("x"), "region", ErrNotFound)
	requireField(t, ctl.RemoveRegion("a"), "region", ErrConflict) // c fails over to a

	require.NoError(t, ctl.RemoveRegion("c"))
	require.NoError(t, ctl.RemoveRegion("d"))
	require.Equal(t, map[string]int{"a": 2, "b": 2}, firstNames(store, svc, 4))
	rt := ctl.Runtime()
	require.Equal(t, []string{"c"}, rt.Removed, "zone regions are remembered as removed")
	require.Empty(t, rt.Regions, "API regions are simply forgotten")
	require.Empty(t, rt.Admin)
	require.Empty(t, rt.Failovers)
	require.Empty(t, rt.Weights)

	require.NoError(t, ctl.RemoveRegion("a"))
	requireField(t, ctl.RemoveRegion("b"), "region", ErrConflict) // the last region of the service

	_, store2, svc2 := newDefaultControl(t, path)
	require.Equal(t, map[string]int{"b": 3}, firstNames(store2, svc2, 3))
	require.Equal(t, []string{"b"}, store2.Load().Zones.RegionNames)

	// Adding a removed zone region back is adding a new region.
	_, err = ctl.AddRegion(zones.RegionSpec{Region: "c", Endpoint: "https://192.0.2.30/"})
	require.NoError(t, err)
	require.Equal(t, "https://192.0.2.30/", store.Load().Zones.Region("c").Endpoint)
}

func TestControlSetWeight(t *testing.T) {
	path := filepath.Join(t.TempDir(), zones.RuntimeFile)
	ctl, store, svc := newDefaultControl(t, path)
	require.NoError(t, ctl.SetStrategy("weighted", nil))
	require.NoError(t, ctl.SetWeight("a", 0))
	require.NoError(t, ctl.SetWeight("b", 3))
	counts := firstNames(store, svc, 400)
	require.Zero(t, counts["a"], "weight 0 drains")
	require.InDelta(t, 300, counts["b"], 10)
	require.InDelta(t, 100, counts["c"], 10)

	before := store.Load()
	requireField(t, ctl.SetWeight("x", 1), "region", ErrNotFound)
	requireField(t, ctl.SetWeight("a", -0.5), "weight", nil)
	requireField(t, ctl.SetWeight("a", math.Inf(1)), "weight", nil)
	requireField(t, ctl.SetWeight("a", math.NaN()), "weight", nil)
	require.Same(t, before, store.Load())

	_, store2, _ := newDefaultControl(t, path)
	require.Equal(t, 3.0, store2.Load().Zones.Region("b").Weight)
}

func TestControlSetStrategy(t *testing.T) {
	path := filepath.Join(t.TempDir(), zones.RuntimeFile)
	ctl, store, svc := newDefaultControl(t, path)
	require.Equal(t, RoundRobin, store.Load().DefaultStrategy)
	require.NoError(t, ctl.SetStrategy("least_latency", map[string]any{"answers": 2}))
	snap := store.Load()
	require.Equal(t, LeastLatency, snap.DefaultStrategy)
	require.Len(t, snap.Decide(findService(snap.Zones, svc.Name), Client{}).Regions, 2)

	before := store.Load()
	requireField(t, ctl.SetStrategy("fastest", nil), "strategy", nil)
	requireField(t, ctl.SetStrategy("geo", map[string]any{"answers": 0.5}), "parameters.answers", nil)
	requireField(t, ctl.SetStrategy("geo", map[string]any{"answers": "2"}), "parameters.answers", nil)
	requireField(t, ctl.SetStrategy("geo", map[string]any{"ttl": 5}), "parameters.ttl", nil)
	require.Same(t, before, store.Load())

	ctl2, store2, _ := newDefaultControl(t, path)
	require.Equal(t, LeastLatency, store2.Load().DefaultStrategy)
	require.Equal(t, map[string]any{"answers": 2.0}, ctl2.Runtime().StrategyParameters)
	require.Equal(t, 2, findService(store2.Load().Zones, svc.Name).Answers)
	require.NoError(t, ctl2.SetStrategy("round_robin", map[string]any{}))
	require.Nil(t, ctl2.Runtime().StrategyParameters)
	require.Equal(t, 1, findService(store2.Load().Zones, svc.Name).Answers)
}

func TestControlReload(t *testing.T) {
	ctl, store, svc := newDefaultControl(t, filepath.Join(t.TempDir(), zones.RuntimeFile))
	_, err := ctl.AddRegion(zones.RegionSpec{Region: "d", Endpoint: "https://192.0.2.4/"})
	require.NoError(t, err)
	require.NoError(t, ctl.RemoveRegion("a"))
	var synced []*zones.Set
	ctl.OnRegions = func(set *zones.Set) { synced = append(synced, set) }

	// The zone files now define d themselves, and a new region e.
	regions := plain("a", "b", "c", "d", "e")
	regions[3].Endpoint = "https://zone-file.example/"
	err = ctl.Reload(newSet(svc, regions))
	require.ErrorContains(t, err, "region d added through the API left out: region d region: region d already exists")
	require.Equal(t, err, ctl.LoadError())
	set := store.Load().Zones
	require.Equal(t, []string{"b", "c", "d", "e"}, set.RegionNames, "a stays removed")
	require.Equal(t, "https://zone-file.example/", set.Region("d").Endpoint, "the zone file wins")
	require.Len(t, synced, 1)
	require.Empty(t, ctl.Runtime().Regions)

	require.NoError(t, ctl.Reload(newSet(svc, plain("a", "b", "c", "d", "e"))))
	require.Len(t, synced, 2, "d's endpoint changed")
	require.NoError(t, ctl.Reload(newSet(svc, plain("a", "b", "c", "d", "e"))))
	require.Len(t, synced, 2, "nothing checked changed")
}

func TestControlStartDropsWhatNoLongerFits(t *testing.T) {
	svc := service("", 1)
	store := NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b"))})
	rt := zones.Runtime{
		Strategy: "fastest",
		Regions:  map[string]zones.RegionSpec{"a": {Region: "a", Endpoint: "https://192.0.2.1/"}, "z": {Region: "z", Endpoint: "https://192.0.2.26/"}},
		Removed:  []string{"b"},
		Weights:  map[string]float64{"z": 4},
	}
	ctl := NewControl(store, rt, nil)
	require.ErrorContains(t, ctl.LoadError(), `default strategy left out: unknown strategy "fastest"`)
	require.ErrorContains(t, ctl.LoadError(), "region a added through the API left out")
	snap := store.Load()
	require.Equal(t, RoundRobin, snap.DefaultStrategy)
	require.Equal(t, []string{"a", "z"}, snap.Zones.RegionNames)
	require.Equal(t, 4.0, snap.Zones.Region("z").Weight)
}

func TestExclusion(t *testing.T) {
	svc := service(RoundRobin, 1)
	snap := NewStore(&Snapshot{
		Zones:     newSet(svc, plain("a", "b", "c", "d")),
		Admin:     map[string]AdminState{"a": ForceDown, "d": ForceUp},
		Health:    HealthView{"b": {Down: true, Reason: "HTTP 503"}, "d": {Down: true, Reason: "timeout"}},
		Failovers: map[string]ManualFailover{"c": {From: "c", To: "d", Reason: "maintenance"}},
	}).Load()
	require.Equal(t, "drained by an operator (force-down)", snap.Exclusion("a"))
	require.Equal(t, "HTTP 503", snap.Exclusion("b"))
	require.Equal(t, "manual failover to d: maintenance", snap.Exclusion("c"))
	require.Empty(t, snap.Exclusion("d"), "forced up")
}
