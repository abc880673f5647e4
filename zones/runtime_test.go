package zones

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRuntimeRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), RuntimeFile)
	empty, err := LoadRuntime(path)
	require.NoError(t, err, "a missing file is an empty state")
	require.Empty(t, empty.Failovers)

	since := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	rt := Runtime{
		Admin:     map[string]AdminState{"eu-west": ForceDown},
		Failovers: map[string]Failover{"us-east": {From: "us-east", To: "eu-west", Reason: "maintenance", Since: since}},
	}
	require.NoError(t, rt.Save(path))
	got, err := LoadRuntime(path)
	require.NoError(t, err)
	require.Equal(t, rt, got)

	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o600))
	_, err = LoadRuntime(path)
	require.ErrorContains(t, err, "runtime state "+path)
}

func TestParseAdminState(t *testing.T) {
	for in, want := range map[string]AdminState{"": AdminAuto, "auto": AdminAuto, "force-up": ForceUp, "force-down": ForceDown, "drain": ForceDown} {
		got, err := ParseAdminState(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ParseAdminState("down")
	require.EqualError(t, err, `unknown admin state "down" (want auto, force-up or force-down)`)
}
