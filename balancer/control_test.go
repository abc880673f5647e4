package balancer

import (
	"errors"
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
