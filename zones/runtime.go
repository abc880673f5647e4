package zones

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/google/renameio/v2"
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

// ParseAdminState validates an admin state name ("auto" clears it,
// "drain" is force-down).
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

// Failover sends every client that would have got region From to region
// To, whatever From's health, until an operator clears it.
type Failover struct {
	From   string    `json:"from_region"`
	To     string    `json:"to_region"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// Runtime is the state operators change while the server runs (admin
// states, manual failovers). It lives in the data directory, apart from
// the zone files, and is applied over them at start-up and on reload:
// zone files say what exists, Runtime what operators did to it.
type Runtime struct {
	Admin     map[string]AdminState `json:"admin,omitempty"`
	Failovers map[string]Failover   `json:"failovers,omitempty"`
}

// RuntimeFile is the name of the runtime state file in the data directory.
const RuntimeFile = "runtime.json"

// LoadRuntime reads the runtime state; a missing file is an empty state.
func LoadRuntime(path string) (Runtime, error) {
	var rt Runtime
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rt, nil
	}
	if err != nil {
		return rt, fmt.Errorf("runtime state: %w", err)
	}
	if err := json.Unmarshal(data, &rt); err != nil {
		return rt, fmt.Errorf("runtime state %s: %w", path, err)
	}
	return rt, nil
}

// Save writes the state atomically: a crash mid-write leaves either the
// old file or the new one, never a torn one (temp file, fsync, rename).
func (rt Runtime) Save(path string) error {
	data, err := json.MarshalIndent(rt, "", "  ")
	if err != nil {
		return fmt.Errorf("runtime state: %w", err)
	}
	if err := renameio.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("runtime state %s: %w", path, err)
	}
	return nil
}
