package balancer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/zones"
)

func TestParseStrategy(t *testing.T) {
	const want = "want one of round_robin, weighted, least_latency, geo"
	tests := []struct {
		in      string
		want    Strategy
		wantErr string
	}{
		{in: "round_robin", want: RoundRobin},
		{in: "weighted", want: Weighted},
		{in: "least_latency", want: LeastLatency},
		{in: "geo", want: Geo},
		{in: "random", wantErr: `unknown strategy "random" (` + want + `)`},
		{in: "", wantErr: `unknown strategy "" (` + want + `)`},
		{in: "Round_Robin", wantErr: `unknown strategy "Round_Robin" (` + want + `)`},
		{in: " geo", wantErr: `unknown strategy " geo" (` + want + `)`},
		{in: "round-robin", wantErr: `unknown strategy "round-robin" (` + want + `)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStrategy(tt.in)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				require.Empty(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestStrategiesParse(t *testing.T) {
	// Every listed strategy round-trips through ParseStrategy.
	require.Len(t, Strategies, 4)
	for _, st := range Strategies {
		got, err := ParseStrategy(string(st))
		require.NoError(t, err)
		require.Equal(t, st, got)
	}
}

func TestSnapshotStrategy(t *testing.T) {
	tests := []struct {
		name    string
		def     Strategy
		service string
		want    Strategy
	}{
		{name: "service names none: default", def: Geo, want: Geo},
		{name: "service overrides default", def: Geo, service: "weighted", want: Weighted},
		{name: "store default is round robin", want: RoundRobin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &zones.Service{Name: "www.example.test.", Strategy: tt.service}
			snap := newSnapshot(t, tt.def, svc, []*zones.Region{{Name: "a", Weight: 1}}, nil)
			require.Equal(t, tt.want, snap.Strategy(svc))
			require.Equal(t, tt.want, snap.Decide(svc, Client{}).Strategy)
		})
	}
}
