package zones

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"slices"
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

// Runtime is the state operators change while the server runs: admin
// states, manual failovers, the default strategy, regions added or removed
// and weights changed through the API. It lives in the data directory,
// apart from the zone files, and is applied over them at start-up and on
// every reload (see Set.WithRuntime): zone files and the environment say
// what exists, Runtime what operators did to it since. Where both speak,
// Runtime wins: a weight set through the API replaces the zone file's, a
// strategy set through the API replaces LOAD_BALANCING_STRATEGY, a region
// removed through the API stays removed though its zone file still
// defines it. Editing the zone files does not clear the runtime state;
// the API does (or deleting the state file while the server is stopped).
type Runtime struct {
	Admin     map[string]AdminState `json:"admin,omitempty"`
	Failovers map[string]Failover   `json:"failovers,omitempty"`
	// Strategy replaces the server's default strategy (the one services
	// that name none follow); "" keeps LOAD_BALANCING_STRATEGY / --strategy.
	Strategy string `json:"strategy,omitempty"`
	// StrategyParameters tune the services that follow the default
	// strategy. One parameter exists, for every strategy:
	//
	//   - answers: how many regions one answer carries (an integer >= 1),
	//     for the services that follow the default strategy and do not
	//     set answers in their zone file.
	StrategyParameters map[string]any `json:"strategy_parameters,omitempty"`
	// Regions added through the API, by name.
	Regions map[string]RegionSpec `json:"regions,omitempty"`
	// Removed lists zone-file and environment regions removed through
	// the API, sorted.
	Removed []string `json:"removed,omitempty"`
	// Weights replaces the weight of regions, by name.
	Weights map[string]float64 `json:"weights,omitempty"`
}

// Clone returns a copy whose maps and slices can be changed without
// touching rt. Region specs are values that are replaced, never changed.
func (rt Runtime) Clone() Runtime {
	return Runtime{
		Admin:              maps.Clone(rt.Admin),
		Failovers:          maps.Clone(rt.Failovers),
		Strategy:           rt.Strategy,
		StrategyParameters: maps.Clone(rt.StrategyParameters),
		Regions:            maps.Clone(rt.Regions),
		Removed:            slices.Clone(rt.Removed),
		Weights:            maps.Clone(rt.Weights),
	}
}

// ParameterAnswers is the name of the answers strategy parameter.
const ParameterAnswers = "answers"

// AnswersParameter returns the answers strategy parameter, 0 when it is
// not set. Numbers read back from the state file are float64.
func (rt Runtime) AnswersParameter() int {
	switch v := rt.StrategyParameters[ParameterAnswers].(type) {
	case float64:
		if v >= 1 && v <= maxAnswers && v == math.Trunc(v) {
			return int(v)
		}
	case int:
		if v >= 1 && v <= maxAnswers {
			return v
		}
	}
	return 0
}

// maxAnswers is the largest answers count, in zone files and parameters.
const maxAnswers = math.MaxInt32

// RegionSpec is a region added through the API, as the API receives it
// and the runtime state keeps it. Its keys mean what they mean in a zone
// file (see the package documentation, Regions) and are checked by the
// same code, so a region is valid through the API exactly when it would be
// in a zone file. Services adds where the region is used.
type RegionSpec struct {
	// Region is the name, as for zone-file regions.
	Region   string `json:"region"`
	Endpoint string `json:"endpoint"`
	// Weight defaults to 1.
	Weight     *float64      `json:"weight,omitempty"`
	Addresses  []string      `json:"addresses,omitempty"`
	CNAME      string        `json:"cname,omitempty"`
	Location   *LocationSpec `json:"location,omitempty"`
	Countries  []string      `json:"countries,omitempty"`
	Continents []string      `json:"continents,omitempty"`
	Check      *CheckSpec    `json:"check,omitempty"`
	// Services lists the load-balanced names (FQDNs) whose region lists
	// the region joins. Services that list no regions balance over every
	// region, this one included, whatever Services says; left out, the
	// region joins only those.
	Services []string `json:"services,omitempty"`
}

// LocationSpec is a region's location in degrees; both are required.
type LocationSpec struct {
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
}

// CheckSpec is a region's check key: the keys of a zone file's check,
// with durations written as in zone files ("10s") and the status as a
// code or range ("204", "200-299"). Empty values are left out.
type CheckSpec struct {
	Kind         string `json:"kind,omitempty"`
	Path         string `json:"path,omitempty"`
	ExpectStatus string `json:"expect_status,omitempty"`
	ExpectBody   string `json:"expect_body,omitempty"`
	CAFile       string `json:"ca_file,omitempty"`
	ServerName   string `json:"server_name,omitempty"`
	Host         string `json:"host,omitempty"`
	Interval     string `json:"interval,omitempty"`
	Timeout      string `json:"timeout,omitempty"`
	Fall         int    `json:"fall,omitempty"`
	Rise         int    `json:"rise,omitempty"`
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
