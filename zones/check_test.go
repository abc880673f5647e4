package zones

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// withCheck opens the check mapping of region us-east at line 9 (see
// withRegion): its first key is at line 10.
const withCheck = withRegion + "    check:\n"

// regionWith is base with region us-east at the endpoint given (line 8)
// and its check mapping opened at line 9.
func regionWith(endpoint string) string {
	return base + "regions:\n  us-east:\n    endpoint: " + endpoint + "\n    check:\n"
}

func TestParseCheck(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want HealthCheck
	}{
		{"no check", withRegion, HealthCheck{}},
		{"empty check", withCheck, HealthCheck{}},
		{"empty mapping", withRegion + "    check: {}\n", HealthCheck{}},
		{"every key", withCheck + strings.Join([]string{
			"      kind: https",
			"      path: /healthz?full=1",
			"      expect_status: 200-299",
			"      expect_body: '\"status\": \"ok\"'",
			"      ca_file: /etc/geodns/ca.pem",
			"      server_name: internal.example.com",
			"      host: api.example.com:8443",
			"      interval: 10s",
			"      timeout: 1500ms",
			"      fall: 5",
			"      rise: 3",
		}, "\n") + "\n", HealthCheck{
			Kind: "https", Path: "/healthz?full=1", StatusMin: 200, StatusMax: 299, Body: `"status": "ok"`,
			CAFile: "/etc/geodns/ca.pem", ServerName: "internal.example.com", Host: "api.example.com:8443",
			Interval: 10 * time.Second, Timeout: 1500 * time.Millisecond, Fall: 5, Rise: 3,
		}},
		{"single status code", withCheck + "      expect_status: 204\n", HealthCheck{StatusMin: 204, StatusMax: 204}},
		{"status range with spaces", withCheck + "      expect_status: 200 - 204\n", HealthCheck{StatusMin: 200, StatusMax: 204}},
		{"widest status range", withCheck + "      expect_status: 100-599\n", HealthCheck{StatusMin: 100, StatusMax: 599}},
		{"tcp check of an https endpoint", withCheck + "      kind: tcp\n      interval: 1m\n", HealthCheck{Kind: "tcp", Interval: time.Minute}},
		{"tcp endpoint, kind left out", regionWith("tcp://192.0.2.10:5432") + "      timeout: 2s\n      fall: 1\n      rise: 1\n",
			HealthCheck{Timeout: 2 * time.Second, Fall: 1, Rise: 1}},
		{"tcp endpoint, kind tcp", regionWith("tcp://192.0.2.10:5432") + "      kind: tcp\n", HealthCheck{Kind: "tcp"}},
		{"http endpoint, kind http", regionWith("http://192.0.2.10") + "      kind: http\n      host: '[2001:db8::1]:80'\n",
			HealthCheck{Kind: "http", Host: "[2001:db8::1]:80"}},
		{"server name as an IP address", withCheck + "      server_name: 192.0.2.10\n", HealthCheck{ServerName: "192.0.2.10"}},
		{"bracketed IPv6 host", withCheck + "      host: '[2001:db8::1]'\n", HealthCheck{Host: "[2001:db8::1]"}},
		{"timeout alone", withCheck + "      timeout: 1m\n", HealthCheck{Timeout: time.Minute}},
		{"interval alone", withCheck + "      interval: 500ms\n", HealthCheck{Interval: 500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFile("t.yaml", []byte(tt.src))
			require.NoError(t, err)
			require.Len(t, f.Regions, 1)
			require.Equal(t, tt.want, f.Regions[0].Check)
		})
	}
}

func TestParseCheckErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		// The mapping.
		{"not a mapping", withRegion + "    check: yes\n", `t.yaml:9: region us-east check: must be a mapping, not "yes"`},
		{"a list", withRegion + "    check: [http]\n", `t.yaml:9: region us-east check: must be a mapping, not a list`},
		{"unknown key", withCheck + "      intervall: 10s\n",
			`t.yaml:10: region us-east check: unknown key "intervall" (expected one of kind, path, expect_status, expect_body, ca_file, server_name, host, interval, timeout, fall, rise)`},
		{"duplicate key", withCheck + "      fall: 2\n      fall: 3\n", `t.yaml:11: region us-east check: duplicate key "fall" (first at line 10)`},

		// kind, and what suits it.
		{"unknown kind", withCheck + "      kind: icmp\n", `t.yaml:10: region us-east check kind: "icmp" is not one of http, https or tcp`},
		{"kind in upper case", withCheck + "      kind: HTTPS\n", `t.yaml:10: region us-east check kind: "HTTPS" is not one of http, https or tcp`},
		{"kind not a string", withCheck + "      kind: [tcp]\n", `t.yaml:10: region us-east check kind: must be a string, not a list`},
		{"http kind for an https endpoint", withCheck + "      kind: http\n",
			`t.yaml:10: region us-east check kind: http does not fit the endpoint's scheme https: use https, or tcp to only open a connection`},
		{"https kind for an http endpoint", regionWith("http://us.example.com") + "      kind: https\n",
			`t.yaml:10: region us-east check kind: https does not fit the endpoint's scheme http: use http, or tcp to only open a connection`},
		{"http kind for a tcp endpoint", regionWith("tcp://us.example.com:5432") + "      kind: http\n",
			`t.yaml:10: region us-east check kind: http does not fit the endpoint's scheme tcp: a tcp:// endpoint is checked with tcp`},
		{"path for a tcp endpoint", regionWith("tcp://us.example.com:5432") + "      path: /healthz\n",
			`t.yaml:10: region us-east check path: only for http and https checks, and this check is tcp`},
		{"expect_status with kind tcp", withCheck + "      kind: tcp\n      expect_status: 200\n",
			`t.yaml:11: region us-east check expect_status: only for http and https checks, and this check is tcp`},
		{"expect_body with kind tcp", withCheck + "      kind: tcp\n      expect_body: ok\n",
			`t.yaml:11: region us-east check expect_body: only for http and https checks, and this check is tcp`},
		{"host with kind tcp", withCheck + "      kind: tcp\n      host: a.example.com\n",
			`t.yaml:11: region us-east check host: only for http and https checks, and this check is tcp`},
		{"ca_file for an http endpoint", regionWith("http://us.example.com") + "      ca_file: ca.pem\n",
			`t.yaml:10: region us-east check ca_file: only for https checks, and this check is http`},
		{"server_name with kind tcp", withCheck + "      server_name: a.example.com\n      kind: tcp\n",
			`t.yaml:10: region us-east check server_name: only for https checks, and this check is tcp`},
		{"bad endpoint: kind not compared", base + "regions:\n  us-east:\n    endpoint: ftp://x\n    check: {kind: https, ca_file: ca.pem}\n",
			`t.yaml:8: region us-east endpoint: "ftp://x": the scheme must be http, https or tcp`},
		{"bad kind: keys checked against the endpoint", regionWith("http://us.example.com") + "      kind: ssh\n      ca_file: ca.pem\n", strings.Join([]string{
			`t.yaml:10: region us-east check kind: "ssh" is not one of http, https or tcp`,
			`t.yaml:11: region us-east check ca_file: only for https checks, and this check is http`,
		}, "\n")},

		// path.
		{"relative path", withCheck + "      path: healthz\n",
			`t.yaml:10: region us-east check path: must be an absolute path, optionally with a query (like /healthz or /status?full=1), not "healthz"`},
		{"path with a host", withCheck + "      path: //other.example.com/healthz\n",
			`t.yaml:10: region us-east check path: must be an absolute path, optionally with a query (like /healthz or /status?full=1), not "//other.example.com/healthz"`},
		{"full URL as path", withCheck + "      path: https://us.example.com/healthz\n",
			`t.yaml:10: region us-east check path: must be an absolute path, optionally with a query (like /healthz or /status?full=1), not "https://us.example.com/healthz"`},
		{"path with a fragment", withCheck + "      path: /healthz#x\n",
			`t.yaml:10: region us-east check path: must be an absolute path, optionally with a query (like /healthz or /status?full=1), not "/healthz#x"`},
		{"path with a control character", withCheck + "      path: \"/health\\x7f\"\n",
			"t.yaml:10: region us-east check path: must be an absolute path, optionally with a query (like /healthz or /status?full=1), not \"/health\\x7f\""},

		// expect_status.
		{"status not a number", withCheck + "      expect_status: ok\n",
			`t.yaml:10: region us-east check expect_status: must be an HTTP status code or a range like 200-299, with codes from 100 to 599, not "ok"`},
		{"status above 599", withCheck + "      expect_status: 600\n",
			`t.yaml:10: region us-east check expect_status: must be an HTTP status code or a range like 200-299, with codes from 100 to 599, not "600"`},
		{"status below 100", withCheck + "      expect_status: 99-200\n",
			`t.yaml:10: region us-east check expect_status: must be an HTTP status code or a range like 200-299, with codes from 100 to 599, not "99-200"`},
		{"status with a sign", withCheck + "      expect_status: +200\n",
			`t.yaml:10: region us-east check expect_status: must be an HTTP status code or a range like 200-299, with codes from 100 to 599, not "+200"`},
		{"open status range", withCheck + "      expect_status: 200-\n",
			`t.yaml:10: region us-east check expect_status: must be an HTTP status code or a range like 200-299, with codes from 100 to 599, not "200-"`},
		{"status range of three", withCheck + "      expect_status: 200-299-399\n",
			`t.yaml:10: region us-east check expect_status: must be an HTTP status code or a range like 200-299, with codes from 100 to 599, not "200-299-399"`},
		{"reversed status range", withCheck + "      expect_status: 299-200\n",
			`t.yaml:10: region us-east check expect_status: "299-200": the first code is above the last`},
		{"status list", withCheck + "      expect_status: [200, 204]\n",
			`t.yaml:10: region us-east check expect_status: must be a string, not a list`},

		// Strings that may not be empty.
		{"empty expect_body", withCheck + "      expect_body: ''\n",
			`t.yaml:10: region us-east check expect_body: must not be empty (leave the key out to accept any body)`},
		{"empty ca_file", withCheck + "      ca_file: \"\"\n",
			`t.yaml:10: region us-east check ca_file: must not be empty (leave the key out to verify against the system's roots)`},
		{"ca_file not a string", withCheck + "      ca_file: {a: b}\n",
			`t.yaml:10: region us-east check ca_file: must be a string, not a mapping`},

		// Names.
		{"bad server_name", withCheck + "      server_name: a..example.com\n",
			`t.yaml:10: region us-east check server_name: "a..example.com" is not a host name or IP address`},
		{"server_name with a port", withCheck + "      server_name: a.example.com:443\n",
			`t.yaml:10: region us-east check server_name: "a.example.com:443" is not a host name or IP address`},
		{"host with a space", withCheck + "      host: a example.com\n",
			`t.yaml:10: region us-east check host: "a example.com" is not a host name, optionally with a port (like api.example.com or api.example.com:8443)`},
		{"host with a bad port", withCheck + "      host: a.example.com:0\n",
			`t.yaml:10: region us-east check host: "a.example.com:0" is not a host name, optionally with a port (like api.example.com or api.example.com:8443)`},
		{"host with an empty port", withCheck + "      host: 'a.example.com:'\n",
			`t.yaml:10: region us-east check host: "a.example.com:" is not a host name, optionally with a port (like api.example.com or api.example.com:8443)`},
		{"unbracketed IPv6 host", withCheck + "      host: '2001:db8::1'\n",
			`t.yaml:10: region us-east check host: "2001:db8::1" is not a host name, optionally with a port (like api.example.com or api.example.com:8443)`},
		{"bracketed name as host", withCheck + "      host: '[a.example.com]:80'\n",
			`t.yaml:10: region us-east check host: "[a.example.com]:80" is not a host name, optionally with a port (like api.example.com or api.example.com:8443)`},

		// Durations.
		{"interval without a unit", withCheck + "      interval: 10\n",
			`t.yaml:10: region us-east check interval: must be a duration greater than 0 like 10s or 500ms, not "10"`},
		{"zero interval", withCheck + "      interval: 0s\n",
			`t.yaml:10: region us-east check interval: must be a duration greater than 0 like 10s or 500ms, not "0s"`},
		{"negative timeout", withCheck + "      timeout: -1s\n",
			`t.yaml:10: region us-east check timeout: must be a duration greater than 0 like 10s or 500ms, not "-1s"`},
		{"interval not a scalar", withCheck + "      interval: [10s]\n",
			`t.yaml:10: region us-east check interval: must be a duration greater than 0 like 10s or 500ms, not a list`},
		{"timeout as long as the interval", withCheck + "      interval: 5s\n      timeout: 5000ms\n",
			`t.yaml:11: region us-east check timeout: 5s must be shorter than the interval (5s)`},
		{"timeout longer than the interval, written first", withCheck + "      timeout: 1m\n      interval: 10s\n",
			`t.yaml:10: region us-east check timeout: 1m0s must be shorter than the interval (10s)`},

		// Thresholds.
		{"zero fall", withCheck + "      fall: 0\n", `t.yaml:10: region us-east check fall: must be an integer >= 1, not "0"`},
		{"negative rise", withCheck + "      rise: -2\n", `t.yaml:10: region us-east check rise: must be an integer >= 1, not "-2"`},
		{"fractional rise", withCheck + "      rise: 1.5\n", `t.yaml:10: region us-east check rise: must be an integer >= 1, not "1.5"`},
		{"fall as a word", withCheck + "      fall: three\n", `t.yaml:10: region us-east check fall: must be an integer >= 1, not "three"`},

		{"every problem of a check", withCheck + "      kind: tcp\n      path: /x\n      interval: 0s\n      fall: 0\n", strings.Join([]string{
			`t.yaml:11: region us-east check path: only for http and https checks, and this check is tcp`,
			`t.yaml:12: region us-east check interval: must be a duration greater than 0 like 10s or 500ms, not "0s"`,
			`t.yaml:13: region us-east check fall: must be an integer >= 1, not "0"`,
		}, "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile("t.yaml", []byte(tt.src))
			require.Error(t, err)
			require.Equal(t, tt.want, checkedError(t, err))
		})
	}
}
