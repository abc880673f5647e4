package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/api"
	"github.com/geodns/geodns/zones"
)

// Answers of the example zone's regions.
const (
	usEast  = "192.0.2.10"
	euWest  = "198.51.100.10"
	apSouth = "203.0.113.10"
)

// ECS subnets the test GeoIP database places.
const (
	fromUS        = "192.0.2.0/24"
	fromGermany   = "198.51.100.0/24"
	fromAustralia = "198.18.0.0/24"
)

func TestStatus(t *testing.T) {
	e := newEnv(t, nil)
	res := e.call(http.MethodGet, "/api/v1/lb/status", "")
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	var st struct {
		NodeID             string         `json:"node_id"`
		Version            string         `json:"version"`
		UptimeSeconds      *int64         `json:"uptime_seconds"`
		Strategy           string         `json:"strategy"`
		StrategySource     string         `json:"strategy_source"`
		StrategyParameters map[string]any `json:"strategy_parameters"`
		FailoverEnabled    bool           `json:"failover_enabled"`
		Zones              []string       `json:"zones"`
		RegionsInAnswers   int            `json:"regions_in_answers"`
		Regions            []struct {
			Region     string   `json:"region"`
			Endpoint   string   `json:"endpoint"`
			Source     string   `json:"source"`
			Weight     float64  `json:"weight"`
			Addresses  []string `json:"addresses"`
			AdminState string   `json:"admin_state"`
			InAnswers  bool     `json:"in_answers"`
			Services   []string `json:"services"`
			Location   *struct {
				Latitude float64 `json:"latitude"`
			} `json:"location"`
			Health struct {
				Status    string  `json:"status"`
				LatencyMS float64 `json:"latency_ms"`
				LastCheck string  `json:"last_check"`
			} `json:"health"`
		} `json:"regions"`
		Failover struct {
			Manual    []any `json:"manual"`
			Automatic []any `json:"automatic"`
		} `json:"failover"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &st))
	require.Equal(t, "node-test", st.NodeID)
	require.Equal(t, "test", st.Version)
	require.NotNil(t, st.UptimeSeconds)
	require.Equal(t, "round_robin", st.Strategy)
	require.Equal(t, "config", st.StrategySource)
	require.Empty(t, st.StrategyParameters)
	require.True(t, st.FailoverEnabled)
	require.ElementsMatch(t, []string{"example.test.", "lb.test."}, st.Zones)
	require.Equal(t, 3, st.RegionsInAnswers)
	require.NotNil(t, st.Failover.Manual)
	require.NotNil(t, st.Failover.Automatic)
	require.Len(t, st.Regions, 3)
	us := st.Regions[2]
	require.Equal(t, "us-east", us.Region)
	require.Equal(t, "https://us.example.com", us.Endpoint)
	require.Equal(t, "zones", us.Source)
	require.Equal(t, 1.0, us.Weight)
	require.Equal(t, []string{usEast, "2001:db8::10"}, us.Addresses)
	require.Equal(t, "auto", us.AdminState)
	require.True(t, us.InAnswers)
	require.Equal(t, []string{"api.example.test.", "www.example.test.", "app.lb.test."}, us.Services)
	require.Equal(t, 38.9, us.Location.Latitude)
	require.Equal(t, "up", us.Health.Status)
	require.NotEmpty(t, us.Health.LastCheck)
	require.Positive(t, us.Health.LatencyMS)

	list := e.call(http.MethodGet, "/api/v1/lb/regions", "")
	require.Equal(t, http.StatusOK, list.Status)
	require.Len(t, list.json(t)["regions"], 3)
	one := e.call(http.MethodGet, "/api/v1/lb/regions/eu-west", "")
	require.Equal(t, http.StatusOK, one.Status)
	require.Equal(t, "https://eu.example.com", one.json(t)["endpoint"])
}

// TestRegionLifecycle adds a region and sees it answered by a real DNS
// client, then removes it.
func TestRegionLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	require.Equal(t, []string{apSouth}, e.query("www.example.test", fromAustralia), "Australia is nearest to ap-south")

	res := e.call(http.MethodPost, "/api/v1/lb/regions",
		`{"region": "au-east", "endpoint": "https://au.example.com", "weight": 1.0, "addresses": ["192.0.2.40", "2001:db8::40"],
		  "location": {"latitude": -33.9, "longitude": 151.2}, "countries": ["au"], "check": {"path": "/au-east"}}`)
	require.Equal(t, http.StatusCreated, res.Status, string(res.Body))
	require.Equal(t, "/api/v1/lb/regions/au-east", res.Header.Get("Location"))
	r := res.json(t)
	require.Equal(t, "api", r["source"])
	require.Equal(t, []any{"AU"}, r["countries"])
	require.Equal(t, []any{"www.example.test.", "app.lb.test."}, r["services"], "it joins the services over every region")

	require.Equal(t, []string{"192.0.2.40"}, e.query("www.example.test", fromAustralia), "the next query gets it")
	require.Equal(t, []string{usEast}, e.query("www.example.test", fromUS))
	require.Contains(t, e.distribution("app.lb.test", "", 8), "192.0.2.40", "round robin includes it")
	require.Eventually(t, func() bool {
		_, ok := e.checker.States()["au-east"]
		return ok
	}, waitFor, tick, "it is health-checked")
	require.Contains(t, e.logs.String(), `"client":"127.0.0.1","region":"au-east","endpoint":"https://au.example.com","weight":1,"services":[],"message":"region added"`)

	// A region joining a service with its own list.
	res = e.call(http.MethodPost, "/api/v1/lb/regions", `{"region": "us-west", "endpoint": "http://192.0.2.50/", "services": ["api.example.test"]}`)
	require.Equal(t, http.StatusCreated, res.Status, string(res.Body))
	zone := e.call(http.MethodGet, "/api/v1/lb/zones/example.test", "").json(t)
	api := zone["services"].([]any)[0].(map[string]any)
	require.Equal(t, "api.example.test.", api["name"])
	require.Equal(t, []any{"us-east", "eu-west", "us-west"}, api["regions"])

	res = e.call(http.MethodDelete, "/api/v1/lb/regions/au-east", "")
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	require.Equal(t, []string{apSouth}, e.query("www.example.test", fromAustralia), "removed from answers at once")
	require.NotContains(t, e.distribution("app.lb.test", "", 8), "192.0.2.40")
	require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, "/api/v1/lb/regions/au-east", "").Status)
	require.Contains(t, e.logs.String(), `"client":"127.0.0.1","region":"au-east","message":"region removed"`)

	// Zone-file regions can be removed too.
	require.Equal(t, http.StatusOK, e.call(http.MethodDelete, "/api/v1/lb/regions/ap-south", "").Status)
	require.Equal(t, []string{usEast}, e.query("www.example.test", fromAustralia), "www's default is gone; the nearest remains")
}

// TestStrategyChangesDistribution changes the default strategy, which
// app.lb.test follows.
func TestStrategyChangesDistribution(t *testing.T) {
	e := newEnv(t, nil)
	require.Equal(t, map[string]int{usEast: 10, euWest: 10, apSouth: 10}, e.distribution("app.lb.test", "", 30))

	res := e.call(http.MethodPut, "/api/v1/lb/strategy", `{"strategy": "geo", "parameters": {}}`)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	require.JSONEq(t, `{"strategy": "geo", "parameters": {}}`, string(res.Body))
	require.Equal(t, map[string]int{usEast: 30}, e.distribution("app.lb.test", "", 30), "127.0.0.1 is in North America")
	require.Equal(t, map[string]int{euWest: 10}, e.distribution("app.lb.test", fromGermany, 10))
	require.Equal(t, []string{apSouth}, e.query("www.example.test", fromAustralia), "a service naming its strategy keeps it")

	res = e.call(http.MethodPut, "/api/v1/lb/strategy", `{"strategy": "weighted", "parameters": {"answers": 2}}`)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	require.Len(t, e.query("app.lb.test", ""), 2, "answers carries two regions")
	require.Equal(t, http.StatusOK, e.call(http.MethodPut, "/api/v1/lb/regions/eu-west/weight", `{"weight": 0}`).Status)
	require.Equal(t, http.StatusOK, e.call(http.MethodPut, "/api/v1/lb/regions/ap-south/weight", `{"weight": 3}`).Status)
	counts := e.distribution("app.lb.test", "", 40)
	require.Zero(t, counts[euWest], "weight 0 drains")
	require.InDelta(t, 30, counts[apSouth], 2)
	require.InDelta(t, 10, counts[usEast], 2)

	st := e.call(http.MethodGet, "/api/v1/lb/status", "").json(t)
	require.Equal(t, "weighted", st["strategy"])
	require.Equal(t, "api", st["strategy_source"])
	require.Equal(t, map[string]any{"answers": 2.0}, st["strategy_parameters"])
	require.Contains(t, e.logs.String(), `"client":"127.0.0.1","strategy":"weighted","parameters":{"answers":2},"message":"default strategy set"`)
}

// TestManualFailover moves a region's clients and back.
func TestManualFailover(t *testing.T) {
	e := newEnv(t, nil)
	require.Equal(t, []string{usEast}, e.query("www.example.test", fromUS))

	res := e.call(http.MethodPost, "/api/v1/lb/failover/trigger", `{"from_region": "us-east", "to_region": "eu-west", "reason": "maintenance"}`)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	f := res.json(t)
	require.Equal(t, "us-east", f["from_region"])
	require.Equal(t, "eu-west", f["to_region"])
	require.Equal(t, "maintenance", f["reason"])
	require.NotEmpty(t, f["since"])
	require.Equal(t, []string{euWest}, e.query("www.example.test", fromUS), "the failover moves answers")

	status := e.call(http.MethodGet, "/api/v1/lb/failover/status", "").json(t)
	require.Len(t, status["manual"], 1)
	require.Empty(t, status["automatic"])
	us := e.call(http.MethodGet, "/api/v1/lb/regions/us-east", "").json(t)
	require.Equal(t, false, us["in_answers"])
	require.Equal(t, "manual failover to eu-west: maintenance", us["reason"])
	require.Equal(t, "eu-west", us["failover_to"])

	res = e.call(http.MethodDelete, "/api/v1/lb/failover/us-east", "")
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	require.JSONEq(t, `{"from_region": "us-east", "cleared": true}`, string(res.Body))
	require.Equal(t, []string{usEast}, e.query("www.example.test", fromUS), "clearing restores")
	require.Contains(t, e.logs.String(), `"message":"manual failover cleared"`)
}

// TestDrainAndHealth drains a region, then lets it fail its checks, and
// reads why it is out of answers.
func TestDrainAndHealth(t *testing.T) {
	e := newEnv(t, nil)
	res := e.call(http.MethodPut, "/api/v1/lb/regions/eu-west/admin", `{"state": "force-down"}`)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	r := res.json(t)
	require.Equal(t, "force-down", r["admin_state"])
	require.Equal(t, false, r["in_answers"])
	require.Equal(t, "drained by an operator (force-down)", r["reason"])
	require.NotEqual(t, []string{euWest}, e.query("www.example.test", fromGermany))
	auto := e.call(http.MethodGet, "/api/v1/lb/failover/status", "").json(t)["automatic"].([]any)
	require.Equal(t, "eu-west", auto[0].(map[string]any)["region"])

	res = e.call(http.MethodPut, "/api/v1/lb/regions/eu-west/admin", `{"state": "auto"}`)
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, "auto", res.json(t)["admin_state"])
	require.Equal(t, []string{euWest}, e.query("www.example.test", fromGermany))

	e.backends.set("eu-west", http.StatusServiceUnavailable)
	res = e.call(http.MethodPost, "/api/v1/lb/health/check", `{"region": "eu-west"}`)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	check := res.json(t)
	result := check["result"].(map[string]any)
	require.Equal(t, false, result["ok"])
	require.Equal(t, 503.0, result["status"])
	require.Equal(t, "down", check["health"].(map[string]any)["status"])
	require.Eventually(t, func() bool {
		return len(e.query("www.example.test", fromGermany)) == 1 && e.query("www.example.test", fromGermany)[0] != euWest
	}, waitFor, tick, "a region that fails its checks leaves the answers")
	eu := e.call(http.MethodGet, "/api/v1/lb/regions/eu-west", "").json(t)
	require.Equal(t, false, eu["in_answers"])
	require.Contains(t, eu["reason"], "503")

	hist := e.call(http.MethodGet, "/api/v1/lb/health/history?region=eu-west&limit=1", "")
	require.Equal(t, http.StatusOK, hist.Status, string(hist.Body))
	results := hist.json(t)["results"].([]any)
	require.Len(t, results, 1)
	require.Equal(t, false, results[0].(map[string]any)["ok"], "newest first")
	all := e.call(http.MethodGet, "/api/v1/lb/health/history?region=eu-west", "").json(t)["results"].([]any)
	require.Len(t, all, 2, "the first round and the check on request")
}

func TestZonesAndProbes(t *testing.T) {
	e := newEnv(t, nil)
	list := e.call(http.MethodGet, "/api/v1/lb/zones", "")
	require.Equal(t, http.StatusOK, list.Status)
	zs := list.json(t)["zones"].([]any)
	require.Len(t, zs, 2)

	zone := e.call(http.MethodGet, "/api/v1/lb/zones/example.test.", "")
	require.Equal(t, http.StatusOK, zone.Status)
	z := zone.json(t)
	require.Equal(t, "example.test.", z["zone"])
	require.Equal(t, 1.0, z["serial"])
	records := z["records"].([]any)
	require.Equal(t, "example.test.\t300\tIN\tNS\tns1.example.test.", records[0], "by name, then type")
	require.Contains(t, records, "example.test.\t300\tIN\tSOA\tns1.example.test. hostmaster.example.test. 1 7200 1800 259200 900")
	require.Contains(t, records, "static.example.test.\t300\tIN\tA\t192.0.2.1")
	www := z["services"].([]any)[1].(map[string]any)
	require.Equal(t, map[string]any{
		"name": "www.example.test.", "strategy": "geo", "effective_strategy": "geo", "ttl": 30.0, "answers": 1.0,
		"regions": []any{"ap-south", "eu-west", "us-east"}, "all_regions": true, "default": "ap-south",
	}, www)

	for path, want := range map[string]string{"/healthz": `{"status":"ok"}`, "/readyz": `{"status":"ready"}`} {
		res := e.callWith(http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, res.Status)
		require.JSONEq(t, want, string(res.Body))
	}
	doc := e.call(http.MethodGet, "/api/v1/openapi.yaml", "")
	require.Equal(t, http.StatusOK, doc.Status)
	require.Equal(t, "application/yaml", doc.Header.Get("Content-Type"))
	require.True(t, strings.HasPrefix(string(doc.Body), "openapi: 3."))
}

func TestNotReady(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Ready = func() bool { return false } })
	res := e.callWith(http.MethodGet, "/readyz", "", "")
	require.Equal(t, http.StatusServiceUnavailable, res.Status)
	require.JSONEq(t, `{"status":"not ready"}`, string(res.Body))
}

// TestErrors sends a bad request to every endpoint that takes one: each is
// a 4xx naming the field, and none changes anything.
func TestErrors(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.ctl.TriggerFailover("ap-south", "us-east", "")
	require.NoError(t, err)
	stateFile := filepath.Join(e.dataDir, zones.RuntimeFile)
	before, err := os.ReadFile(stateFile)
	require.NoError(t, err)
	set, rt := e.store.Load().Zones, e.ctl.Runtime()

	const region = `"region": "us-west", "endpoint": "https://us-west.example.com"`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		field  string
		msg    string
	}{
		{"malformed JSON", "POST", "/api/v1/lb/regions", `{"region": `, 400, "", "malformed JSON: the body ends in the middle of a value"},
		{"syntax error", "POST", "/api/v1/lb/regions", `{"region" "x"}`, 400, "", "malformed JSON at byte 11: invalid character '\"' after object key"},
		{"empty body", "POST", "/api/v1/lb/regions", ``, 400, "", "malformed JSON: the request body is empty (want a JSON object)"},
		{"two values", "POST", "/api/v1/lb/regions", `{` + region + `} {}`, 400, "", "malformed JSON: the body must hold a single JSON value"},
		{"not an object", "POST", "/api/v1/lb/regions", `["us-west"]`, 400, "", "malformed JSON: the body must be an object, not an array"},
		{"unknown field", "POST", "/api/v1/lb/regions", `{` + region + `, "colour": "red"}`, 400, "colour", `unknown field "colour"`},
		{"unknown nested field", "POST", "/api/v1/lb/regions", `{` + region + `, "location": {"latitude": 1, "longitude": 2, "altitude": 3}}`, 400, "location.altitude", `unknown field "location.altitude"`},
		{"wrong type", "POST", "/api/v1/lb/regions", `{` + region + `, "weight": "heavy"}`, 400, "weight", "must be a number, not a string"},
		{"wrong nested type", "POST", "/api/v1/lb/regions", `{` + region + `, "location": {"latitude": "north"}}`, 400, "location.latitude", "must be a number, not a string"},
		{"weight out of range", "POST", "/api/v1/lb/regions", `{` + region + `, "weight": 1e400}`, 400, "weight", "must be a number, not the number 1e400"},
		{"missing region", "POST", "/api/v1/lb/regions", `{"endpoint": "https://x.example.com"}`, 400, "region", "required"},
		{"bad region name", "POST", "/api/v1/lb/regions", `{"region": "US_West", "endpoint": "https://x.example.com"}`, 400, "region", "a region name is 1 to 63 lower-case letters, digits or '-', not starting or ending with '-'"},
		{"missing endpoint", "POST", "/api/v1/lb/regions", `{"region": "us-west"}`, 400, "endpoint", "required"},
		{"bad URL", "POST", "/api/v1/lb/regions", `{"region": "us-west", "endpoint": "us-west.example.com"}`, 400, "endpoint", `"us-west.example.com" is not an absolute http, https or tcp URL with a host`},
		{"negative weight", "POST", "/api/v1/lb/regions", `{` + region + `, "weight": -1}`, 400, "weight", `must be a finite number >= 0, not "-1"`},
		{"bad address", "POST", "/api/v1/lb/regions", `{` + region + `, "addresses": ["192.0.2.300"]}`, 400, "addresses", `"192.0.2.300" is not an IP address`},
		{"bad latitude", "POST", "/api/v1/lb/regions", `{` + region + `, "location": {"latitude": 100, "longitude": 0}}`, 400, "location.latitude", `must be a number between -90 and 90, not "100"`},
		{"bad check", "POST", "/api/v1/lb/regions", `{` + region + `, "check": {"interval": "1 minute"}}`, 400, "check.interval", `must be a duration greater than 0 like 10s or 500ms, not "1 minute"`},
		{"duplicate region", "POST", "/api/v1/lb/regions", `{"region": "us-east", "endpoint": "https://us.example.com"}`, 409, "region", `region "us-east" already exists`},
		{"unknown service", "POST", "/api/v1/lb/regions", `{` + region + `, "services": ["nope.example.test"]}`, 404, "services", "no service nope.example.test."},
		{"not a service", "POST", "/api/v1/lb/regions", `{` + region + `, "services": ["example.test."]}`, 404, "services", "no service example.test."},
		{"unknown strategy", "PUT", "/api/v1/lb/strategy", `{"strategy": "fastest"}`, 400, "strategy", `unknown strategy "fastest" (want one of round_robin, weighted, least_latency, geo)`},
		{"missing strategy", "PUT", "/api/v1/lb/strategy", `{"parameters": {"answers": 2}}`, 400, "strategy", "required"},
		{"bad parameter", "PUT", "/api/v1/lb/strategy", `{"strategy": "geo", "parameters": {"answers": 0}}`, 400, "parameters.answers", "must be an integer >= 1, not 0"},
		{"unknown parameter", "PUT", "/api/v1/lb/strategy", `{"strategy": "geo", "parameters": {"ttl": 5}}`, 400, "parameters.ttl", "unknown parameter (the parameters are: answers)"},
		{"weight of unknown region", "PUT", "/api/v1/lb/regions/nope/weight", `{"weight": 1}`, 404, "region", `unknown region "nope"`},
		{"negative weight set", "PUT", "/api/v1/lb/regions/us-east/weight", `{"weight": -0.5}`, 400, "weight", "must be a finite number >= 0, not -0.5"},
		{"missing weight", "PUT", "/api/v1/lb/regions/us-east/weight", `{}`, 400, "weight", "required"},
		{"unknown admin state", "PUT", "/api/v1/lb/regions/us-east/admin", `{"state": "down"}`, 400, "state", `unknown admin state "down" (want auto, force-up or force-down)`},
		{"admin of unknown region", "PUT", "/api/v1/lb/regions/nope/admin", `{"state": "force-down"}`, 404, "region", `unknown region "nope"`},
		{"remove unknown region", "DELETE", "/api/v1/lb/regions/nope", ``, 404, "region", `unknown region "nope"`},
		{"remove a failover target", "DELETE", "/api/v1/lb/regions/us-east", ``, 409, "region", "the manual failover from ap-south sends clients to us-east: clear it first"},
		{"check without region", "POST", "/api/v1/lb/health/check", `{}`, 400, "region", "required"},
		{"check unknown region", "POST", "/api/v1/lb/health/check", `{"region": "nope"}`, 404, "region", `unknown region "nope"`},
		{"history without region", "GET", "/api/v1/lb/health/history", ``, 400, "region", "required"},
		{"history bad limit", "GET", "/api/v1/lb/health/history?region=us-east&limit=ten", ``, 400, "limit", `must be an integer from 1 to 10000, not "ten"`},
		{"history unknown region", "GET", "/api/v1/lb/health/history?region=nope", ``, 404, "region", `unknown region "nope"`},
		{"failover to itself", "POST", "/api/v1/lb/failover/trigger", `{"from_region": "us-east", "to_region": "us-east"}`, 400, "to_region", "a region cannot fail over to itself"},
		{"failover from unknown", "POST", "/api/v1/lb/failover/trigger", `{"from_region": "nope", "to_region": "us-east"}`, 404, "from_region", `unknown region "nope"`},
		{"failover to unknown", "POST", "/api/v1/lb/failover/trigger", `{"from_region": "us-east", "to_region": "nope"}`, 404, "to_region", `unknown region "nope"`},
		{"failover without target", "POST", "/api/v1/lb/failover/trigger", `{"from_region": "us-east"}`, 400, "to_region", "required"},
		{"failover reason too long", "POST", "/api/v1/lb/failover/trigger", `{"from_region": "us-east", "to_region": "eu-west", "reason": "` + strings.Repeat("x", 501) + `"}`, 400, "reason", "at most 500 bytes"},
		{"clear no failover", "DELETE", "/api/v1/lb/failover/us-east", ``, 404, "from_region", `no manual failover from "us-east"`},
		{"unknown zone", "GET", "/api/v1/lb/zones/nope.test", ``, 404, "zone", "zone nope.test. is not served"},
		{"unknown route", "GET", "/api/v1/lb/nothing", ``, 404, "", "no such route: GET /api/v1/lb/nothing"},
		{"wrong method", "PATCH", "/api/v1/lb/strategy", `{}`, 405, "", "PATCH is not allowed on /api/v1/lb/strategy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.call(tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, res.Status, string(res.Body))
			require.Equal(t, "application/json", strings.Split(res.Header.Get("Content-Type"), ";")[0])
			msg, field := res.apiError(t)
			require.Equal(t, tc.field, field)
			require.Equal(t, tc.msg, msg)
		})
	}
	after, err := os.ReadFile(stateFile)
	require.NoError(t, err)
	require.Equal(t, string(before), string(after), "no change is persisted")
	require.Same(t, set, e.store.Load().Zones, "no change is published")
	require.Equal(t, rt, e.ctl.Runtime())
}

// TestRestartKeepsChanges restarts the server over the same data
// directory: every change made through the API is still there.
func TestRestartKeepsChanges(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/lb/regions", `{"region": "au-east", "endpoint": "https://au.example.com", "addresses": ["192.0.2.40"], "countries": ["AU"]}`},
		{"DELETE", "/api/v1/lb/regions/ap-south", ""},
		{"PUT", "/api/v1/lb/regions/eu-west/weight", `{"weight": 2.5}`},
		{"PUT", "/api/v1/lb/regions/eu-west/admin", `{"state": "force-up"}`},
		{"PUT", "/api/v1/lb/strategy", `{"strategy": "geo", "parameters": {"answers": 2}}`},
		{"POST", "/api/v1/lb/failover/trigger", `{"from_region": "us-east", "to_region": "au-east", "reason": "maintenance"}`},
	} {
		res := e.call(c.method, c.path, c.body)
		require.Less(t, res.Status, 300, "%s %s: %s", c.method, c.path, res.Body)
	}
	before := e.call(http.MethodGet, "/api/v1/lb/regions", "").json(t)
	e.restart()

	after := e.call(http.MethodGet, "/api/v1/lb/regions", "").json(t)
	require.Equal(t, strip(before), strip(after))
	regions := after["regions"].([]any)
	require.Len(t, regions, 3)
	eu := regions[1].(map[string]any)
	require.Equal(t, 2.5, eu["weight"])
	require.Equal(t, "force-up", eu["admin_state"])
	st := e.call(http.MethodGet, "/api/v1/lb/status", "").json(t)
	require.Equal(t, "geo", st["strategy"])
	require.Len(t, st["failover"].(map[string]any)["manual"], 1)

	require.Equal(t, []string{"192.0.2.40"}, e.query("www.example.test", fromAustralia), "the added region answers")
	require.Equal(t, []string{"192.0.2.40"}, e.query("www.example.test", fromUS), "the failover holds")
	require.Len(t, e.query("app.lb.test", fromGermany), 2, "the strategy's answers parameter holds")
}

// strip drops what changes across a restart: health times and latency.
func strip(m map[string]any) map[string]any {
	for _, r := range m["regions"].([]any) {
		delete(r.(map[string]any), "health")
	}
	return m
}
