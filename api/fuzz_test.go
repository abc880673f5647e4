package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzRoutes are the calls FuzzAPIBodies sends bodies to.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/lb/regions"},
	{"POST", "/api/v1/lb/failover/trigger"},
	{"PUT", "/api/v1/lb/strategy"},
	{"PUT", "/api/v1/lb/regions/us-east/weight"},
	{"PUT", "/api/v1/lb/regions/eu-west/admin"},
}

// FuzzAPIBodies sends arbitrary bodies to the calls that decode one: the
// answer is never a 5xx (and a panic would be one), and always JSON.
func FuzzAPIBodies(f *testing.F) {
	seeds := []struct {
		route uint8
		body  string
	}{
		{0, `{"region": "us-west", "endpoint": "https://us-west.example.com", "weight": 1.0}`},
		{0, `{"region": "au", "endpoint": "https://192.0.2.9/", "addresses": ["192.0.2.9", "::ffff:192.0.2.9"], "location": {"latitude": -33.9, "longitude": 151.2}, "countries": ["AU"], "continents": ["OC"], "services": ["app.lb.test"], "check": {"kind": "tcp", "interval": "5s", "timeout": "1s", "fall": 2, "rise": 1}}`},
		{0, `{"region": "c", "endpoint": "tcp://c.example.com:53", "cname": "c"}`},
		{0, `{"region": "x", "endpoint": "https://x.example/", "check": {"expect_status": "299-200", "path": "nope", "ca_file": "/etc/passwd"}}`},
		{0, `{"region": "x", "endpoint": "https://[fe80::1%25eth0]/"}`},
		{0, `{"region": "x", "endpoint": "https://x.example/", "weight": 1e308, "location": {"latitude": -0}}`},
		{0, `{"region": null, "endpoint": null, "addresses": null}`},
		{1, `{"from_region": "us-east", "to_region": "eu-west", "reason": "maintenance"}`},
		{1, `{"from_region": "us-east", "to_region": "us-east"}`},
		{2, `{"strategy": "weighted", "parameters": {"answers": 2}}`},
		{2, `{"strategy": "geo", "parameters": {"answers": 1e300}}`},
		{2, `{"strategy": "geo", "parameters": {"answers": [1]}}`},
		{3, `{"weight": 0}`},
		{4, `{"state": "drain"}`},
		{0, `{"region": "`},
		{0, "\xff\xfe"},
		{0, `[]`},
		{0, `{} {}`},
		{0, ``},
	}
	for _, s := range seeds {
		f.Add(s.route, []byte(s.body))
	}
	e := newEnv(f, nil)
	h := e.api.Handler()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s %q: not JSON: %s", r.method, r.path, body, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct{ Error, Field *string }
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == nil || e.Field == nil {
				t.Fatalf("%s %s %q: %d without an error body: %s", r.method, r.path, body, rec.Code, rec.Body)
			}
		}
		if rec.Code == http.StatusCreated {
			// Keep the set small: remove what the body added.
			var added struct{ Region string }
			if json.Unmarshal(rec.Body.Bytes(), &added) == nil {
				e.ctl.RemoveRegion(added.Region)
			}
		}
	})
}
