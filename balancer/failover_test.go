package balancer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHealthOverrides covers how admin states, FAILOVER_ENABLED and the
// health view combine into the regions a round robin answer rotates over.
func TestHealthOverrides(t *testing.T) {
	tests := []struct {
		name   string
		health HealthView
		admin  map[string]AdminState
		ignore bool
		want   []string // first regions of 4 consecutive decisions
		down   []string
	}{
		{"all healthy", nil, nil, false, []string{"a", "b", "c", "a"}, nil},
		{"down region skipped", down("b"), nil, false, []string{"a", "c", "a", "c"}, []string{"b"}},
		{"drained region skipped", nil, map[string]AdminState{"a": ForceDown}, false, []string{"b", "c", "b", "c"}, []string{"a"}},
		{"force-up beats a failed check", down("b"), map[string]AdminState{"b": ForceUp}, false, []string{"a", "b", "c", "a"}, nil},
		{"failover disabled ignores health", down("a", "b"), nil, true, []string{"a", "b", "c", "a"}, nil},
		{"failover disabled still drains", down("a"), map[string]AdminState{"c": ForceDown}, true, []string{"a", "b", "a", "b"}, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := service(RoundRobin, 1)
			snap := NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b", "c")), Health: tc.health, Admin: tc.admin, IgnoreHealth: tc.ignore}).Load()
			var got []string
			for range 4 {
				d := snap.Decide(svc, Client{})
				got = append(got, d.Regions[0].Name)
				require.Equal(t, tc.down, d.Down)
				require.False(t, d.FailOpen)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestBackupWhenAllDown(t *testing.T) {
	svc := service(RoundRobin, 2)
	svc.Regions = []string{"a", "b"}
	svc.Backup = "standby"
	snap := NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b", "standby")), Health: down("a", "b")}).Load()
	d := snap.Decide(svc, Client{})
	require.Equal(t, RuleBackup, d.Rule)
	require.Equal(t, []string{"standby"}, names(d.Regions))
	require.False(t, d.FailOpen)
	require.Contains(t, d.Explain(), "its backup region answers")

	// A drained backup cannot answer: the decision fails open instead.
	snap = NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b", "standby")), Health: down("a", "b"), Admin: map[string]AdminState{"standby": ForceDown}}).Load()
	d = snap.Decide(svc, Client{})
	require.True(t, d.FailOpen)
	require.ElementsMatch(t, []string{"a", "b"}, names(d.Regions))
}

func TestManualFailover(t *testing.T) {
	since := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		strategy  Strategy
		answers   int
		failovers map[string]ManualFailover
		health    HealthView
		want      [][]string // regions of consecutive decisions
	}{
		{"rotation: a's turns go to c", RoundRobin, 1,
			map[string]ManualFailover{"a": {From: "a", To: "c", Since: since}}, nil,
			[][]string{{"c"}, {"b"}, {"c"}, {"c"}}},
		{"whatever a's health", RoundRobin, 1,
			map[string]ManualFailover{"a": {From: "a", To: "b", Since: since}}, down("b"),
			[][]string{{"b"}, {"c"}, {"b"}}},
		{"two answers are deduplicated", RoundRobin, 2,
			map[string]ManualFailover{"a": {From: "a", To: "b", Since: since}}, nil,
			[][]string{{"b"}, {"b", "c"}, {"c", "b"}}},
		{"one hop only", RoundRobin, 1,
			map[string]ManualFailover{"a": {From: "a", To: "b"}, "b": {From: "b", To: "a"}}, nil,
			[][]string{{"b"}, {"a"}, {"c"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := service(tc.strategy, tc.answers)
			snap := NewStore(&Snapshot{Zones: newSet(svc, plain("a", "b", "c")), Failovers: tc.failovers, Health: tc.health}).Load()
			for i, want := range tc.want {
				d := snap.Decide(svc, Client{})
				require.Equal(t, want, names(d.Regions), "decision %d", i)
			}
		})
	}
}

func TestManualFailoverExplained(t *testing.T) {
	svc := service(Geo, 1)
	snap := NewStore(&Snapshot{
		Zones:     newSet(svc, world()),
		Failovers: map[string]ManualFailover{"eu-central": {From: "eu-central", To: "us-east"}},
	}).Load()
	d := snap.Decide(svc, located("198.51.100.7", "198.51.100.0/24", "DE", "EU", frankfurt))
	require.Equal(t, []string{"us-east"}, names(d.Regions))
	require.Equal(t, []Move{{From: "eu-central", To: "us-east"}}, d.Moved)
	require.Contains(t, d.Explain(), "manual failover moved eu-central to us-east")
}

func TestGeoFallbackOrder(t *testing.T) {
	svc := service(Geo, 2)
	svc.Fallback = []string{"sa-east", "us-east"}
	snap := NewStore(&Snapshot{Zones: newSet(svc, world()), Health: down("eu-central", "eu-west")}).Load()
	d := snap.Decide(svc, located("198.51.100.7", "198.51.100.0/24", "DE", "EU", frankfurt))
	require.Equal(t, RuleFallback, d.Rule)
	require.Equal(t, []string{"sa-east", "us-east"}, names(d.Regions), "the configured order, not the nearest")

	healthy := NewStore(&Snapshot{Zones: newSet(svc, world())}).Load()
	d = healthy.Decide(svc, located("198.51.100.7", "198.51.100.0/24", "DE", "EU", frankfurt))
	require.Equal(t, "eu-central", d.Regions[0].Name, "fallback does not apply while the serving regions are up")
}
