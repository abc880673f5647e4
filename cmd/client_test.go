package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/health"
	"github.com/geodns/geodns/zones"
)

const cliToken = "cli-token"

// cliServer runs the API over the example zone, with health checks
// against a local endpoint, and returns its URL.
func cliServer(t *testing.T) (string, *balancer.Control) {
	t.Helper()
	set, err := zones.LoadDir("../testdata/zones", nil)
	require.NoError(t, err)
	store := balancer.NewStore(&balancer.Snapshot{Zones: set, DefaultStrategy: balancer.RoundRobin, NodeID: "cli-node"})
	path := filepath.Join(t.TempDir(), zones.RuntimeFile)
	ctl := balancer.NewControl(store, zones.Runtime{}, func(rt zones.Runtime) error { return rt.Save(path) })

	backend := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(backend.Close)
	// The example regions' endpoints are not reachable from a test:
	// check the local endpoint in their place.
	local := func(set *zones.Set) []health.Target {
		out := targets(set)
		for i := range out {
			out[i].Endpoint = backend.URL + "/" + out[i].Region
		}
		return out
	}
	checker := health.New(health.Options{Interval: time.Hour, Log: zerolog.Nop()})
	t.Cleanup(checker.Stop)
	checker.Sync(local(set))
	ctl.OnRegions = func(set *zones.Set) { checker.Sync(local(set)) }
	require.NoError(t, checker.WaitFirstRound(t.Context()))
	ctl.SetHealth(healthView(checker.States()))

	s := settings{NodeID: "cli-node", API: apiSettings{Addr: "127.0.0.1:0", Token: cliToken}}
	srv, err := startAPI(s, store, ctl, checker, func() bool { return true }, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "http://" + srv.Addr(), ctl
}

// runCLI runs geodns with args and returns its output and exit status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	var exit exitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.code
	default:
		errOut.WriteString(err.Error())
		code = 1
	}
	return out.String(), errOut.String(), code
}

func TestCLI(t *testing.T) {
	url, ctl := cliServer(t)
	api := []string{"--api", url}
	auth := append([]string{"--token", cliToken}, api...)
	tests := []struct {
		name string
		args []string
		code int
		out  []string // substrings of stdout (code 0) or stderr
	}{
		{"status", append([]string{"status"}, api...), 0, []string{
			"node      cli-node (geodns dev), up ",
			"strategy  round_robin (from the configuration)",
			"failover  on: regions that fail their checks leave the answers",
			"zones     example.test.",
			"regions   3 of 3 in answers",
			"REGION    ENDPOINT                WEIGHT  HEALTH  LATENCY",
			"us-east   https://us.example.com  1       up",
		}},
		{"regions list", append([]string{"regions", "list"}, api...), 0, []string{"ap-south  https://ap.example.com  1       up", "IN ANSWERS"}},
		{"add without token", append([]string{"regions", "add", "us-west", "https://us-west.example.com"}, api...), 1,
			[]string{"geodns: missing token: send the header Authorization: Bearer TOKEN (HTTP 401 Unauthorized)"}},
		{"add", append([]string{"regions", "add", "us-west", "https://us-west.example.com", "--address", "192.0.2.20", "--address", "2001:db8::20",
			"--location", "37.4,-122.1", "--country", "US", "--weight", "2", "--service", "api.example.test", "--check-path", "/healthz"}, auth...), 0,
			[]string{"added region us-west (https://us-west.example.com), used by api.example.test., www.example.test."}},
		{"add duplicate", append([]string{"regions", "add", "us-east", "https://us.example.com"}, auth...), 1,
			[]string{`geodns: region: region "us-east" already exists (HTTP 409 Conflict)`}},
		{"add bad endpoint", append([]string{"regions", "add", "x", "us.example.com"}, auth...), 1,
			[]string{`geodns: endpoint: "us.example.com" is not an absolute http, https or tcp URL with a host (HTTP 400 Bad Request)`}},
		{"add bad location", append([]string{"regions", "add", "x", "https://x.example", "--location", "north"}, auth...), 2,
			[]string{`geodns: --location "north": want LATITUDE,LONGITUDE in degrees, like 50.1,8.7`}},
		{"set weight", append([]string{"regions", "set-weight", "eu-west", "2.5"}, auth...), 0, []string{"region eu-west weight 2.5"}},
		{"negative weight", append(append([]string{"regions", "set-weight"}, auth...), "--", "eu-west", "-1"), 1,
			[]string{"geodns: weight: must be a finite number >= 0, not -1 (HTTP 400 Bad Request)"}},
		{"weight not a number", append([]string{"regions", "set-weight", "eu-west", "heavy"}, auth...), 2, []string{`geodns: weight "heavy": not a number`}},
		{"drain", append([]string{"regions", "drain", "eu-west"}, auth...), 0,
			[]string{"region eu-west admin state force-down, out of answers: drained by an operator (force-down)"}},
		{"drained in status", append([]string{"status"}, api...), 0, []string{"force-down  no: drained by an operator (force-down)", "regions   3 of 4 in answers"}},
		{"undrain", append([]string{"regions", "undrain", "eu-west"}, auth...), 0, []string{"region eu-west admin state auto, in answers"}},
		{"drain unknown", append([]string{"regions", "drain", "nope"}, auth...), 1, []string{`geodns: region: unknown region "nope" (HTTP 404 Not Found)`}},
		{"strategy", append([]string{"strategy", "set", "weighted", "--answers", "2"}, auth...), 0, []string{"default strategy weighted with answers=2"}},
		{"strategy in status", append([]string{"status"}, api...), 0, []string{"strategy  weighted (set through the API) with answers=2"}},
		{"unknown strategy", append([]string{"strategy", "set", "fastest"}, auth...), 1,
			[]string{`geodns: strategy: unknown strategy "fastest" (want one of round_robin, weighted, least_latency, geo) (HTTP 400 Bad Request)`}},
		{"health check", append([]string{"health", "check", "us-east"}, auth...), 0, []string{"us-east: ok in ", "(HTTP 200); the region is up"}},
		{"health history", append([]string{"health", "history", "us-east", "--limit", "5"}, api...), 0, []string{"TIME", "RESULT  LATENCY", " ok "}},
		{"history unknown", append([]string{"health", "history", "nope"}, api...), 1, []string{`geodns: region: unknown region "nope" (HTTP 404 Not Found)`}},
		{"failover trigger", append([]string{"failover", "trigger", "us-east", "eu-west", "--reason", "maintenance"}, auth...), 0,
			[]string{"clients of us-east now get eu-west (since ", "clear with: geodns failover clear us-east"}},
		{"failover to itself", append([]string{"failover", "trigger", "us-east", "us-east"}, auth...), 1,
			[]string{"geodns: to_region: a region cannot fail over to itself (HTTP 400 Bad Request)"}},
		{"failover status", append([]string{"failover", "status"}, api...), 0,
			[]string{"manual failovers:", "FROM     TO       SINCE", "us-east  eu-west  ", "maintenance", "no regions out of answers"}},
		{"failover clear", append([]string{"failover", "clear", "us-east"}, auth...), 0, []string{"cleared the manual failover from us-east"}},
		{"failover clear again", append([]string{"failover", "clear", "us-east"}, auth...), 1,
			[]string{`geodns: from_region: no manual failover from "us-east" (HTTP 404 Not Found)`}},
		{"remove", append([]string{"regions", "remove", "us-west"}, auth...), 0, []string{"removed region us-west"}},
		{"remove again", append([]string{"regions", "remove", "us-west"}, auth...), 1, []string{`geodns: region: unknown region "us-west" (HTTP 404 Not Found)`}},
		{"bad API URL", []string{"status", "--api", "localhost:8080"}, 2, []string{`geodns: --api "localhost:8080": want the API's URL, like http://127.0.0.1:8080`}},
		{"API down", []string{"status", "--api", "http://127.0.0.1:1"}, 1, []string{"geodns: cannot reach the API at http://127.0.0.1:1 (is `geodns serve` running? set --api or GEODNS_API)"}},
		{"usage", []string{"regions", "add", "only-a-name"}, 1, []string{"accepts 2 arg(s), received 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tc.args...)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			got := stdout
			if tc.code != 0 {
				got = stderr
			}
			for _, want := range tc.out {
				require.Contains(t, got, want)
			}
		})
	}
	require.Empty(t, ctl.Runtime().Regions, "us-west came and went")
	require.Equal(t, 2.5, ctl.Runtime().Weights["eu-west"])
}

func TestCLIJSON(t *testing.T) {
	url, _ := cliServer(t)
	stdout, stderr, code := runCLI(t, "regions", "list", "--json", "--api", url)
	require.Zero(t, code, stderr)
	var list struct {
		Regions []struct {
			Region string `json:"region"`
		} `json:"regions"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	require.Len(t, list.Regions, 3)
	require.True(t, strings.HasPrefix(stdout, "{\n  \"regions\": ["), "indented")

	stdout, _, code = runCLI(t, "failover", "trigger", "us-east", "eu-west", "--json", "--api", url, "--token", cliToken)
	require.Zero(t, code)
	var f map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &f))
	require.Equal(t, "eu-west", f["to_region"])
}

// TestCLIEnvironment reads the API's address and token from GEODNS_API and
// GEODNS_TOKEN; flags win.
func TestCLIEnvironment(t *testing.T) {
	url, _ := cliServer(t)
	t.Setenv("GEODNS_API", url)
	t.Setenv("GEODNS_TOKEN", cliToken)
	stdout, stderr, code := runCLI(t, "regions", "drain", "ap-south")
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, "region ap-south admin state force-down")
	_, stderr, code = runCLI(t, "regions", "undrain", "ap-south", "--token", "wrong")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "invalid token")
	_, stderr, code = runCLI(t, "status", "--api", "http://127.0.0.1:1")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "cannot reach the API at http://127.0.0.1:1")
}

// TestCLIHelp: every client command explains itself with an example.
func TestCLIHelp(t *testing.T) {
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Runnable() {
				require.NotEmpty(t, sub.Short, sub.CommandPath())
				require.NotEmpty(t, sub.Example, sub.CommandPath())
			}
			walk(sub)
		}
	}
	for _, name := range []string{"status", "regions", "strategy", "health", "failover"} {
		c, _, err := root.Find([]string{name})
		require.NoError(t, err)
		require.Equal(t, name, c.Name())
		walk(c)
	}
	stdout, _, code := runCLI(t, "regions", "add", "--help")
	require.Zero(t, code)
	require.Contains(t, stdout, "geodns regions add us-west https://us-west.example.com --address 192.0.2.20")
	require.Contains(t, stdout, "--api string")
	require.Contains(t, stdout, "GEODNS_API")
}

func TestAPISettings(t *testing.T) {
	parse := func(t *testing.T, args ...string) (settings, error) {
		var s settings
		c := &cobra.Command{Use: "serve"}
		addAPIFlags(c, &s)
		require.NoError(t, c.ParseFlags(args))
		return s, s.API.fromEnvironment(environment{}, c.Flags())
	}
	s, err := parse(t)
	require.NoError(t, err)
	require.Equal(t, apiSettings{Addr: "127.0.0.1:8080", Rate: 20}, s.API)

	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("from-file\n"), 0o600))
	s, err = parse(t, "--api-addr", "off", "--api-token-file", tokenFile, "--api-auth-all", "--api-rate", "5")
	require.NoError(t, err)
	require.Equal(t, apiSettings{Token: "from-file", TokenFile: tokenFile, AuthAll: true, Rate: 5}, s.API)

	t.Setenv("API_TOKEN", "from-env")
	t.Setenv("GEODNS_API_ADDR", "127.0.0.1:9090")
	s, err = parse(t)
	require.NoError(t, err)
	require.Equal(t, "from-env", s.API.Token)
	require.Equal(t, "127.0.0.1:9090", s.API.Addr)
	s, err = parse(t, "--api-addr", "127.0.0.1:0", "--api-token-file", tokenFile)
	require.NoError(t, err)
	require.Equal(t, "from-file", s.API.Token, "the file wins over the environment")
	require.Equal(t, "127.0.0.1:0", s.API.Addr, "the flag wins over the environment")

	t.Setenv("API_TOKEN", "")
	for args, want := range map[string]string{
		"--api-auth-all":                         "--api-auth-all needs a token (API_TOKEN or --api-token-file)",
		"--api-tls-cert cert.pem":                "--api-tls-cert and --api-tls-key go together",
		"--api-rate -1":                          "--api-rate -1: must be >= 0",
		"--api-token-file " + tokenFile + ".nop": "--api-token-file: open " + tokenFile + ".nop: no such file or directory",
	} {
		_, err := parse(t, strings.Fields(args)...)
		require.EqualError(t, err, want, args)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, []byte(" \n"), 0o600))
	_, err = parse(t, "--api-token-file", empty)
	require.EqualError(t, err, "--api-token-file "+empty+": the file is empty")

	// Off: no server, but region changes still reach the checker.
	store := balancer.NewStore(&balancer.Snapshot{Zones: &zones.Set{}})
	ctl := balancer.NewControl(store, zones.Runtime{}, nil)
	checker := health.New(health.Options{Log: zerolog.Nop()})
	t.Cleanup(checker.Stop)
	srv, err := startAPI(settings{}, store, ctl, checker, nil, nil, zerolog.Nop())
	require.NoError(t, err)
	require.Nil(t, srv)
	require.NotNil(t, ctl.OnRegions)
}
