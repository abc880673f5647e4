//go:build e2e

// End-to-end tests: the real geodns binary queried with the real dig, directly
// and through an unbound resolver that forwards EDNS Client Subnet, and its
// REST API driven with curl and the CLI. Run them with `make e2e`, which
// installs dig, curl, unbound and chromium when they are missing
// (`make e2e-deps`), builds bin/geodns and passes it in GEODNS_BIN.
//
// Everything listens on 127.0.0.1 on ports picked at random (the REST API
// and the regions' health-check endpoints too: the example zone is served
// with its endpoints moved to a loopback HTTP server), every wait is bounded
// and every process started is killed (with its process group) when the
// test ends.
package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

const (
	e2eNodeID = "geodns-e2e-node"
	// readyTimeout bounds the wait for a started server to answer.
	readyTimeout = 10 * time.Second
	// cmdTimeout bounds every one-shot command (dig, geodns zone ..., unbound-checkconf).
	cmdTimeout = 30 * time.Second
)

// TestE2EDig serves the example zone and checks its answers as dig sees them.
func TestE2EDig(t *testing.T) {
	digBin := requireTool(t, "dig")
	root := repoRoot(t)
	gd := startGeodns(t, root)
	d := newDigger(t, digBin, gd.port)

	t.Run("SOA is authoritative", func(t *testing.T) {
		r := d.run(t, "example.test", "SOA", "+norec")
		require.Equal(t, "NOERROR", r.Status, r.Output)
		require.Contains(t, r.Flags, "aa", r.Output)
		require.Equal(t, "UDP", r.Transport, r.Output)
		require.Len(t, r.Answer, 1, r.Output)
		soa, ok := r.Answer[0].(*dns.SOA)
		require.True(t, ok, "answer is not a SOA: %s", r.Output)
		require.Equal(t, "example.test.", soa.Hdr.Name)
		require.Equal(t, "ns1.example.test.", soa.Ns)
		require.Equal(t, "hostmaster.example.test.", soa.Mbox)
		require.Equal(t, uint32(1), soa.Serial)
		require.Equal(t, uint32(900), soa.Minttl)
	})

	t.Run("geo answer for the querier (127.0.0.1 is NA)", func(t *testing.T) {
		require.Equal(t, []string{"192.0.2.10"}, d.short(t, "www.example.test", "A", "+norec"))
	})

	t.Run("ECS EU subnet", func(t *testing.T) {
		r := d.run(t, "www.example.test", "A", "+norec", "+subnet=198.51.100.0/24")
		require.Equal(t, "NOERROR", r.Status, r.Output)
		require.Contains(t, r.Flags, "aa", r.Output)
		require.Equal(t, []string{"198.51.100.10"}, r.addresses(), r.Output)
		require.Equal(t, "198.51.100.0/24/24", r.ClientSubnet, r.Output)
	})

	t.Run("ECS AS subnet", func(t *testing.T) {
		require.Equal(t, []string{"203.0.113.10"}, d.short(t, "www.example.test", "A", "+norec", "+subnet=203.0.113.0/24"))
		r := d.run(t, "www.example.test", "A", "+norec", "+subnet=203.0.113.0/24")
		require.Equal(t, "203.0.113.0/24/24", r.ClientSubnet, r.Output)
	})

	t.Run("TCP", func(t *testing.T) {
		require.Equal(t, []string{"192.0.2.10"}, d.short(t, "www.example.test", "A", "+norec", "+tcp"))
		r := d.run(t, "www.example.test", "A", "+norec", "+tcp", "+subnet=198.51.100.0/24")
		require.Equal(t, "TCP", r.Transport, r.Output)
		require.Equal(t, "NOERROR", r.Status, r.Output)
		require.Equal(t, []string{"198.51.100.10"}, r.addresses(), r.Output)
		require.Equal(t, "198.51.100.0/24/24", r.ClientSubnet, r.Output)
	})

	t.Run("NXDOMAIN carries the SOA", func(t *testing.T) {
		r := d.run(t, "nope.example.test", "A", "+norec")
		require.Equal(t, "NXDOMAIN", r.Status, r.Output)
		require.Contains(t, r.Flags, "aa", r.Output)
		require.Empty(t, r.Answer, r.Output)
		require.Len(t, r.Authority, 1, r.Output)
		soa, ok := r.Authority[0].(*dns.SOA)
		require.True(t, ok, "authority is not a SOA: %s", r.Output)
		require.Equal(t, "example.test.", soa.Hdr.Name)
		// RFC 2308: the negative TTL is min(SOA TTL, SOA MINIMUM) = min(300, 900).
		require.Equal(t, uint32(300), soa.Hdr.Ttl, r.Output)
	})

	t.Run("other zones are REFUSED", func(t *testing.T) {
		r := d.run(t, "example.org", "A", "+norec")
		require.Equal(t, "REFUSED", r.Status, r.Output)
		require.NotContains(t, r.Flags, "aa", r.Output)
		require.Empty(t, r.Answer, r.Output)
	})

	t.Run("CHAOS id.server names the node", func(t *testing.T) {
		r := d.run(t, "CH", "TXT", "id.server", "+norec")
		require.Equal(t, "NOERROR", r.Status, r.Output)
		require.Len(t, r.Answer, 1, r.Output)
		txt, ok := r.Answer[0].(*dns.TXT)
		require.True(t, ok, "answer is not a TXT: %s", r.Output)
		require.Equal(t, uint16(dns.ClassCHAOS), txt.Hdr.Class)
		require.Equal(t, []string{e2eNodeID}, txt.Txt)
	})

	t.Run("NSID names the node", func(t *testing.T) {
		r := d.run(t, "example.test", "SOA", "+norec", "+nsid")
		require.Equal(t, "NOERROR", r.Status, r.Output)
		require.Equal(t, e2eNodeID, r.NSID, r.Output)
	})

	t.Run("logs are JSON", func(t *testing.T) {
		requireJSONLog(t, gd.proc.output())
	})
}

// TestE2ECLI runs the zone and version commands of the binary.
func TestE2ECLI(t *testing.T) {
	root := repoRoot(t)
	bin := geodnsBin(t, root)
	zonesDir := filepath.Join(root, "testdata", "zones")
	geoip := filepath.Join(root, "testdata", "geoip-city.mmdb")

	t.Run("zone resolve explains the decision", func(t *testing.T) {
		out, code := runCommand(t, bin, "zone", "resolve", "www.example.test", "A",
			"--client", "198.51.100.7", "--zones", zonesDir, "--geoip", geoip)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "eu-west", out)
		require.Contains(t, out, "rule continent", out)
		require.Regexp(t, `(?m)^www\.example\.test\.\s+30\s+IN\s+A\s+198\.51\.100\.10$`, out)
	})

	t.Run("zone check accepts the example zones", func(t *testing.T) {
		out, code := runCommand(t, bin, "zone", "check", zonesDir)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "zone example.test. OK", out)
	})

	t.Run("zone check reports a bad record with its line", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "broken.test.yaml")
		require.NoError(t, os.WriteFile(file, []byte(`zone: broken.test.
records: |
  @        SOA  ns1 hostmaster 1 7200 1800 259200 900
  @        NS   ns1
  ns1      A    not-an-address
`), 0o644))
		for _, arg := range []string{dir, file} {
			out, code := runCommand(t, bin, "zone", "check", arg)
			require.Equal(t, 1, code, "zone check %s:\n%s", arg, out)
			require.Contains(t, out, file+":5:", out)
		}
	})

	t.Run("version", func(t *testing.T) {
		out, code := runCommand(t, bin, "version")
		require.Equal(t, 0, code, out)
		require.True(t, strings.HasPrefix(out, "geodns "), out)
	})
}

// TestE2EUnbound checks the delegated path: unbound resolves www.example.test
// through a stub zone pointing at geodns and forwards the EDNS Client Subnet
// of its clients, caching answers per subnet.
func TestE2EUnbound(t *testing.T) {
	digBin := requireTool(t, "dig")
	unboundBin := requireTool(t, "unbound")
	checkconfBin := requireTool(t, "unbound-checkconf")
	root := repoRoot(t)
	gd := startGeodns(t, root)
	ub := startUnbound(t, unboundBin, checkconfBin, gd.port)
	d := newDigger(t, digBin, ub.port)

	subnets := []struct{ subnet, want string }{
		{"198.51.100.0/24", "198.51.100.10"}, // DE/EU: eu-west
		{"192.0.2.0/24", "192.0.2.10"},       // US/NA: us-east
		{"203.0.113.0/24", "203.0.113.10"},   // JP/AS: nearest, ap-south
	}
	for _, s := range subnets {
		t.Run("ECS "+s.subnet, func(t *testing.T) {
			r := d.run(t, "www.example.test", "A", "+subnet="+s.subnet)
			require.Equal(t, "NOERROR", r.Status, r.Output)
			require.Contains(t, r.Flags, "ra", r.Output)
			require.Equal(t, []string{s.want}, r.addresses(), r.Output)
			// A scope of 0 would tell unbound the answer holds for every
			// client, and it would serve it from its cache to all of them.
			require.True(t, strings.HasPrefix(r.ClientSubnet, s.subnet+"/"), r.Output)
			require.NotEqual(t, s.subnet+"/0", r.ClientSubnet, r.Output)
		})
	}

	t.Run("answers come from the subnet cache", func(t *testing.T) {
		// With geodns stopped, unbound can only answer from its cache: each
		// subnet must get its own answer back (TTL 30s, far more than this
		// test takes), and a longer source prefix inside a cached /24 (unbound
		// truncates client prefixes to max-client-subnet-ipv4, 24) as well.
		require.NoError(t, syscall.Kill(gd.proc.cmd.Process.Pid, syscall.SIGSTOP))
		defer func() { require.NoError(t, syscall.Kill(gd.proc.cmd.Process.Pid, syscall.SIGCONT)) }()
		for _, s := range subnets {
			r := d.run(t, "www.example.test", "A", "+subnet="+s.subnet)
			require.Equal(t, "NOERROR", r.Status, r.Output)
			require.Equal(t, []string{s.want}, r.addresses(), r.Output)
		}
		r := d.run(t, "www.example.test", "A", "+subnet=198.51.100.77/32")
		require.Equal(t, "NOERROR", r.Status, r.Output)
		require.Equal(t, []string{"198.51.100.10"}, r.addresses(), r.Output)
	})

	t.Run("no ECS from the client: its own address (127.0.0.1, NA)", func(t *testing.T) {
		r := d.run(t, "www.example.test", "A")
		require.Equal(t, "NOERROR", r.Status, r.Output)
		require.Equal(t, []string{"192.0.2.10"}, r.addresses(), r.Output)
		require.Empty(t, r.ClientSubnet, "no ECS in the response to a query without one: %s", r.Output)
	})
}

// TestE2EAPI drives the REST API with curl and the CLI, checks the effect
// of each change with dig, and restarts the server on the same data
// directory to check that changes survive.
func TestE2EAPI(t *testing.T) {
	digBin := requireTool(t, "dig")
	curlBin := requireTool(t, "curl")
	root := repoRoot(t)
	bin := geodnsBin(t, root)
	zonesDir := loopbackZones(t, root)
	dataDir := filepath.Join(t.TempDir(), "data")
	gd := startGeodnsWith(t, root, zonesDir, dataDir)
	d := newDigger(t, digBin, gd.port)
	c := &e2eAPI{curlBin: curlBin, geodns: bin, base: gd.apiURL()}
	// us-west's endpoint: another loopback server, always healthy.
	usWest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	}))
	t.Cleanup(usWest.Close)

	const us, eu = "+subnet=192.0.2.0/24", "+subnet=198.51.100.0/24"

	t.Run("healthz and readyz", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			code, body := c.curl(t, "GET", path, "", "")
			require.Equal(t, 200, code, "GET %s: %s", path, body)
		}
	})

	t.Run("status lists the regions", func(t *testing.T) {
		code, body := c.curl(t, "GET", "/api/v1/lb/status", "", "")
		require.Equal(t, 200, code, body)
		var st struct {
			NodeID  string `json:"node_id"`
			Regions []struct {
				Region string `json:"region"`
			} `json:"regions"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &st), body)
		require.Equal(t, e2eNodeID, st.NodeID, body)
		var names []string
		for _, r := range st.Regions {
			names = append(names, r.Region)
		}
		require.ElementsMatch(t, []string{"us-east", "eu-west", "ap-south"}, names, body)
	})

	usWestSpec := fmt.Sprintf(`{"region": "us-west", "endpoint": %q, "addresses": ["192.0.2.20"],
		"location": {"latitude": 37.77, "longitude": -122.42}, "countries": ["US"]}`, usWest.URL+"/us-west")

	t.Run("a change without the token is 401", func(t *testing.T) {
		code, body := c.curl(t, "POST", "/api/v1/lb/regions", "", usWestSpec)
		require.Equal(t, 401, code, body)
		require.NotContains(t, c.regionNames(t), "us-west")
	})

	t.Run("malformed bodies are 400 with a JSON error", func(t *testing.T) {
		code, body := c.curl(t, "POST", "/api/v1/lb/regions", e2eToken, `{"region": "us-west", `)
		require.Equal(t, 400, code, body)
		e := decodeAPIError(t, body)
		require.NotEmpty(t, e.Error, body)

		code, body = c.curl(t, "POST", "/api/v1/lb/regions", e2eToken, `{"region": "us-west", "endpoint": 5}`)
		require.Equal(t, 400, code, body)
		require.Equal(t, "endpoint", decodeAPIError(t, body).Field, body)
		require.NotContains(t, c.regionNames(t), "us-west")
	})

	t.Run("add us-west, fail over to it and back", func(t *testing.T) {
		code, body := c.curl(t, "POST", "/api/v1/lb/regions", e2eToken, usWestSpec)
		require.Contains(t, []int{200, 201}, code, body)
		require.Contains(t, c.regionNames(t), "us-west")
		// us-west serves the US by country and us-east NA by continent:
		// either may answer a US client until the failover decides it.
		waitDig(t, d, "a US answer", func(a []string) bool {
			return len(a) == 1 && (a[0] == "192.0.2.10" || a[0] == "192.0.2.20")
		}, us)

		out := c.cli(t, "failover", "trigger", "us-east", "us-west")
		require.Contains(t, out, "us-west", out)
		waitDig(t, d, "us-west", equals("192.0.2.20"), us)

		var fo struct {
			Manual []struct {
				From string `json:"from_region"`
				To   string `json:"to_region"`
			} `json:"manual"`
		}
		out = c.cli(t, "failover", "status", "--json")
		require.NoError(t, json.Unmarshal([]byte(out), &fo), out)
		require.Len(t, fo.Manual, 1, out)
		require.Equal(t, "us-east", fo.Manual[0].From, out)
		require.Equal(t, "us-west", fo.Manual[0].To, out)

		c.cli(t, "failover", "clear", "us-east")
		out = c.cli(t, "failover", "status", "--json")
		require.NoError(t, json.Unmarshal([]byte(out), &fo), out)
		require.Empty(t, fo.Manual, out)

		code, body = c.curl(t, "DELETE", "/api/v1/lb/regions/us-west", e2eToken, "")
		require.Contains(t, []int{200, 204}, code, body)
		require.NotContains(t, c.regionNames(t), "us-west")
		// With us-west gone and the failover cleared, us-east answers again.
		waitDig(t, d, "us-east", equals("192.0.2.10"), us)
	})

	t.Run("drain and undrain eu-west", func(t *testing.T) {
		waitDig(t, d, "eu-west", equals("198.51.100.10"), eu)
		c.cli(t, "regions", "drain", "eu-west")
		waitDig(t, d, "another region than eu-west", func(a []string) bool {
			return len(a) > 0 && !slices.Contains(a, "198.51.100.10")
		}, eu)
		c.cli(t, "regions", "undrain", "eu-west")
		waitDig(t, d, "eu-west", equals("198.51.100.10"), eu)
	})

	t.Run("changes survive a restart", func(t *testing.T) {
		c.cli(t, "regions", "set-weight", "eu-west", "2")
		require.Equal(t, 2.0, c.region(t, "eu-west").Weight)
		gd.proc.stop(t)
		gd2 := startGeodnsWith(t, root, zonesDir, dataDir)
		c2 := &e2eAPI{curlBin: curlBin, geodns: bin, base: gd2.apiURL()}
		require.Equal(t, 2.0, c2.region(t, "eu-west").Weight)
		require.NotContains(t, c2.regionNames(t), "us-west")
		d2 := newDigger(t, digBin, gd2.port)
		waitDig(t, d2, "eu-west", equals("198.51.100.10"), eu)
		waitDig(t, d2, "us-east", equals("192.0.2.10"), us)
	})
}

// e2eAPI talks to one server's REST API with curl and the geodns CLI.
type e2eAPI struct {
	curlBin, geodns string
	base            string // http://127.0.0.1:PORT
}

// curl makes one request and returns the status code and body; a token
// is sent as a bearer token, a body as JSON.
func (c *e2eAPI) curl(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	bodyFile := filepath.Join(t.TempDir(), "body")
	args := []string{"-sS", "-o", bodyFile, "-w", "%{http_code}", "--max-time", "10", "-X", method}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	if body != "" {
		args = append(args, "-H", "Content-Type: application/json", "--data-binary", body)
	}
	args = append(args, c.base+path)
	out, code := runCommand(t, c.curlBin, args...)
	require.Equal(t, 0, code, "curl %s:\n%s", strings.Join(args, " "), out)
	status, err := strconv.Atoi(strings.TrimSpace(out))
	require.NoError(t, err, "curl %s: status %q", strings.Join(args, " "), out)
	data, err := os.ReadFile(bodyFile)
	require.NoError(t, err)
	return status, string(data)
}

// cli runs a geodns client command against the API with the token and
// returns its output; it fails the test unless it succeeds.
func (c *e2eAPI) cli(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"--api", c.base, "--token", e2eToken}, args...)
	out, code := runCommand(t, c.geodns, args...)
	require.Equal(t, 0, code, "geodns %s:\n%s", strings.Join(args, " "), out)
	return out
}

type apiRegion struct {
	Region string  `json:"region"`
	Weight float64 `json:"weight"`
}

// regions is `geodns regions list --json`.
func (c *e2eAPI) regions(t *testing.T) []apiRegion {
	t.Helper()
	out := c.cli(t, "regions", "list", "--json")
	var list struct {
		Regions []apiRegion `json:"regions"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list), out)
	return list.Regions
}

func (c *e2eAPI) regionNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, r := range c.regions(t) {
		names = append(names, r.Region)
	}
	return names
}

func (c *e2eAPI) region(t *testing.T, name string) apiRegion {
	t.Helper()
	for _, r := range c.regions(t) {
		if r.Region == name {
			return r
		}
	}
	t.Fatalf("region %s not listed", name)
	return apiRegion{}
}

type apiError struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

func decodeAPIError(t *testing.T, body string) apiError {
	t.Helper()
	var e apiError
	require.NoError(t, json.Unmarshal([]byte(body), &e), "error body %q", body)
	return e
}

// changeTimeout bounds the wait for a change to reach DNS answers.
const changeTimeout = 10 * time.Second

// waitDig queries www.example.test A with dig (extra args added) until ok
// accepts the addresses answered, failing the test after changeTimeout.
func waitDig(t *testing.T, d *digger, what string, ok func([]string) bool, args ...string) {
	t.Helper()
	args = append([]string{"www.example.test", "A", "+norec"}, args...)
	deadline := time.Now().Add(changeTimeout)
	for {
		r := d.run(t, args...)
		if r.Status == "NOERROR" && ok(r.addresses()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dig %s: no answer from %s within %v; last:\n%s", strings.Join(args, " "), what, changeTimeout, r.Output)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func equals(want ...string) func([]string) bool {
	return func(got []string) bool { return slices.Equal(got, want) }
}

// unboundConf is the resolver's configuration; %[1]s is its directory, %[2]d
// its port and %[3]d geodns's port.
const unboundConf = `server:
    interface: 127.0.0.1
    port: %[2]d
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    access-control: 127.0.0.0/8 allow
    # By default unbound never sends queries to 127.0.0.0/8 or ::1, where geodns is.
    do-not-query-localhost: no
    # test. is one of unbound's default local zones (RFC 6761 special-use
    # names, answered NXDOMAIN); nodefault lets the stub zone below resolve.
    local-zone: "test." nodefault
    # subnetcache is the ECS module (forwarding and a cache per subnet). No
    # validator: example.test is unsigned and there is no trust anchor (none
    # is configured, so nothing fetches or reads root.key either).
    module-config: "subnetcache iterator"
    # Authorities that are sent ECS, matched by address whatever the port. It
    # is what makes unbound add ECS derived from the querier's address
    # (127.0.0.0/24) to queries that arrive without one.
    send-client-subnet: 127.0.0.1
    # Forward the ECS of client queries without checking the authority
    # against send-client-subnet (which matches anyway) and skip the regular
    # cache for them.
    client-subnet-always-forward: yes
    # Left at their defaults: max-client-subnet-ipv4 24 (client /24s are
    # forwarded as they are, longer prefixes truncated to /24) and
    # client-subnet-zone (not needed, send-client-subnet covers geodns).
    #
    # Fail when the port is taken instead of sharing it: unbound's default
    # SO_REUSEPORT would let it bind a port another process is using.
    so-reuseport: no
    # Run unprivileged in the test's directory, logging to stderr.
    directory: "%[1]s"
    chroot: ""
    username: ""
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
# The only zone resolved: no root hints or root priming are needed for it.
stub-zone:
    name: "example.test"
    stub-addr: 127.0.0.1@%[3]d
`

type server struct {
	proc    *process
	port    int
	apiPort int // the REST API's port (geodns only)
}

// apiURL is the base URL of the server's REST API.
func (s server) apiURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.apiPort))
}

// e2eToken is the API token geodns is started with (API_TOKEN).
const e2eToken = "e2e-token"

// startGeodns serves the example zone with the test GeoIP database on a
// free loopback port and waits until it answers.
func startGeodns(t *testing.T, root string) server {
	t.Helper()
	return startGeodnsWith(t, root, loopbackZones(t, root), filepath.Join(t.TempDir(), "data"))
}

// startGeodnsWith serves zonesDir with its runtime state in dataDir, DNS
// and the REST API (token e2eToken) on free loopback ports, with extra
// serve arguments, and waits until both answer.
func startGeodnsWith(t *testing.T, root, zonesDir, dataDir string, extra ...string) server {
	t.Helper()
	bin := geodnsBin(t, root)
	dir := t.TempDir() // working directory: no .env from the repository
	// Runtime state (GEODNS_DATA_DIR, the environment form of --data-dir)
	// goes to the test's directory, not /var/lib/geodns.
	env := []string{"GEODNS_DATA_DIR=" + dataDir, "API_TOKEN=" + e2eToken}
	query := new(dns.Msg).SetQuestion("example.test.", dns.TypeSOA)
	query.RecursionDesired = false
	for attempt := 1; ; attempt++ {
		port, apiPort := freePort(t), freePort(t)
		if port == apiPort {
			continue
		}
		args := append([]string{"serve",
			"--zones", zonesDir,
			"--geoip", filepath.Join(root, "testdata", "geoip-city.mmdb"),
			"--dns-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			"--api-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort)),
			"--log-format", "json",
			"--node-id", e2eNodeID}, extra...)
		p := startProcess(t, "geodns", dir, env, bin, args...)
		err := waitAnswer(p, port, query, func(r *dns.Msg) bool {
			return r.Rcode == dns.RcodeSuccess && r.Authoritative && len(r.Answer) == 1
		})
		if err == nil {
			err = waitReady(p, apiPort)
		}
		if err == nil {
			return server{proc: p, port: port, apiPort: apiPort}
		}
		if p.exited() && strings.Contains(p.output(), "address already in use") && attempt < 5 {
			t.Logf("port %d or %d taken, retrying: %v", port, apiPort, err)
			continue
		}
		t.Fatalf("geodns on ports %d (DNS) and %d (API): %v\n%s", port, apiPort, err, p.output())
	}
}

// waitReady polls the API's /readyz until it answers 200, the process
// exits or readyTimeout passes.
func waitReady(p *process, apiPort int) error {
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort)) + "/readyz"
	c := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited before the API was ready: %v", p.waitErr)
		}
		resp, err := c.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /readyz: %s", resp.Status)
		}
		last = err
		select {
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("API not ready within %v: %v", readyTimeout, last)
}

var exampleEndpoint = regexp.MustCompile(`(?m)^(\s+endpoint:\s*)https://([a-z]+)\.example\.com[ \t]*$`)

// loopbackZones writes testdata/zones/example.test.yaml to a temporary
// zones directory with each region's endpoint (https://us.example.com, ...)
// replaced by a loopback HTTP server that is always healthy, so that the
// server's health checks stay on loopback and every region is up: the
// answers then depend on the client's location only.
func loopbackZones(t *testing.T, root string) string {
	t.Helper()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	}))
	t.Cleanup(healthy.Close) // after geodns, whose cleanup is registered later
	return loopbackZonesAt(t, root, healthy.URL)
}

// loopbackZonesAt writes the example zone with its endpoints moved to the
// loopback server at baseURL.
func loopbackZonesAt(t *testing.T, root, baseURL string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "testdata", "zones", "example.test.yaml"))
	require.NoError(t, err)
	out := exampleEndpoint.ReplaceAll(src, []byte("${1}"+baseURL+"/${2}"))
	endpoints := regexp.MustCompile(`(?m)^\s+endpoint:\s*(\S+)`).FindAllSubmatch(out, -1)
	require.NotEmpty(t, endpoints, "no endpoints in the example zone")
	for _, e := range endpoints {
		require.True(t, strings.HasPrefix(string(e[1]), baseURL+"/"), "endpoint %s of the example zone is not on loopback", e[1])
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "example.test.yaml"), out, 0o644))
	return dir
}

// startUnbound runs unbound on a free loopback port with the stub zone
// example.test pointing at geodns, and waits until it answers.
func startUnbound(t *testing.T, unboundBin, checkconfBin string, geodnsPort int) server {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "unbound.conf")
	query := new(dns.Msg).SetQuestion("example.test.", dns.TypeSOA)
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, unboundConf, dir, port, geodnsPort), 0o644))
		if out, code := runCommand(t, checkconfBin, conf); code != 0 {
			t.Fatalf("unbound-checkconf %s: exit %d\n%s", conf, code, out)
		}
		p := startProcess(t, "unbound", dir, nil, unboundBin, "-d", "-c", conf)
		err := waitAnswer(p, port, query, func(r *dns.Msg) bool {
			return r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1
		})
		if err == nil {
			return server{proc: p, port: port}
		}
		if p.exited() && strings.Contains(p.output(), "Address already in use") && attempt < 5 {
			t.Logf("port %d taken, retrying: %v", port, err)
			continue
		}
		t.Fatalf("unbound on port %d: %v\n%s", port, err, p.output())
	}
}

// waitAnswer polls 127.0.0.1:port over UDP with query until ok accepts the
// response, the process exits or readyTimeout passes.
func waitAnswer(p *process, port int, query *dns.Msg, ok func(*dns.Msg) bool) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited before answering: %v", p.waitErr)
		}
		r, _, err := c.Exchange(query, addr)
		switch {
		case err != nil:
			last = err
		case ok(r):
			return nil
		default:
			last = fmt.Errorf("unexpected answer:\n%v", r)
		}
		select {
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no answer within %v: %v", readyTimeout, last)
}

// process is a started server; it runs in its own process group, which is
// killed when the test ends.
type process struct {
	name    string
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{}
	waitErr error
}

func startProcess(t *testing.T, name, dir string, extraEnv []string, bin string, args ...string) *process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = childEnv(extraEnv)
	p := &process{name: name, cmd: cmd, out: new(syncBuffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		// A process the test stopped itself (a restart) is not signalled
		// again: its group may be gone and its id reused.
		if !p.exited() {
			p.stop(t)
		}
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("%s %s output:\n%s", name, strings.Join(args, " "), p.output())
		}
	})
	return p
}

// stop resumes the process in case a test left it stopped, asks it to stop
// and kills its group if it has not within 5s; it returns once it exited.
func (p *process) stop(t *testing.T) {
	t.Helper()
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
		t.Logf("%s did not stop on SIGTERM; killing it", p.name)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) output() string { return p.out.String() }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runCommand runs a one-shot command in a temporary directory and returns
// its combined output and exit code; it fails the test if it cannot run or
// takes longer than cmdTimeout.
func runCommand(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	return runCommandEnv(t, nil, bin, args...)
}

func runCommandEnv(t *testing.T, extraEnv []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = childEnv(extraEnv)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: no result within %v\n%s", bin, strings.Join(args, " "), cmdTimeout, out)
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
		return "", -1
	}
}

// childEnv is the test's environment without the variables geodns reads, so
// that a developer's settings do not change what is tested, plus extra.
func childEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "GEODNS_"), name == "REGIONAL_ENDPOINTS",
			name == "LOAD_BALANCING_STRATEGY", name == "HEALTH_CHECK_INTERVAL",
			name == "FAILOVER_ENABLED", name == "FAILOVER_THRESHOLD", name == "API_TOKEN":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// digger runs dig against one server.
type digger struct {
	bin  string
	port int
	home string // HOME without a .digrc
}

func newDigger(t *testing.T, bin string, port int) *digger {
	return &digger{bin: bin, port: port, home: t.TempDir()}
}

func (d *digger) exec(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"@127.0.0.1", "-p", strconv.Itoa(d.port), "+time=2", "+tries=1"}, args...)
	out, code := runCommandEnv(t, []string{"HOME=" + d.home}, d.bin, args...)
	require.Equal(t, 0, code, "dig %s:\n%s", strings.Join(args, " "), out)
	return out
}

// short runs dig +short and returns its lines.
func (d *digger) short(t *testing.T, args ...string) []string {
	t.Helper()
	return strings.Fields(d.exec(t, append(args, "+short")...))
}

// run runs dig and parses its output.
func (d *digger) run(t *testing.T, args ...string) digResult {
	t.Helper()
	return parseDig(t, d.exec(t, args...))
}

type digResult struct {
	Output       string
	Status       string
	Flags        []string
	Transport    string // UDP or TCP, from the SERVER line
	ClientSubnet string // as dig prints it: ADDRESS/SOURCE/SCOPE
	NSID         string
	Answer       []dns.RR
	Authority    []dns.RR
	Additional   []dns.RR
}

var (
	digStatus    = regexp.MustCompile(`(?m)^;; ->>HEADER<<- .*status: ([A-Z]+),`)
	digFlags     = regexp.MustCompile(`(?m)^;; flags:([^;]*);`)
	digServer    = regexp.MustCompile(`(?m)^;; SERVER: .*\((UDP|TCP)\)$`)
	digSubnet    = regexp.MustCompile(`(?m)^; CLIENT-SUBNET: (\S+)$`)
	digNSID      = regexp.MustCompile(`(?m)^; NSID: .*\("(.*)"\)$`)
	digSectionRE = regexp.MustCompile(`^;; ([A-Z]+) SECTION:$`)
)

func parseDig(t *testing.T, out string) digResult {
	t.Helper()
	r := digResult{Output: out}
	m := digStatus.FindStringSubmatch(out)
	require.NotNil(t, m, "no status in dig output:\n%s", out)
	r.Status = m[1]
	if m := digFlags.FindStringSubmatch(out); m != nil {
		r.Flags = strings.Fields(m[1])
	}
	if m := digServer.FindStringSubmatch(out); m != nil {
		r.Transport = m[1]
	}
	if m := digSubnet.FindStringSubmatch(out); m != nil {
		r.ClientSubnet = m[1]
	}
	if m := digNSID.FindStringSubmatch(out); m != nil {
		r.NSID = m[1]
	}
	var section *[]dns.RR
	for _, line := range strings.Split(out, "\n") {
		if m := digSectionRE.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "ANSWER":
				section = &r.Answer
			case "AUTHORITY":
				section = &r.Authority
			case "ADDITIONAL":
				section = &r.Additional
			default:
				section = nil
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			section = nil
			continue
		}
		if section == nil || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		require.NoError(t, err, "record %q in dig output:\n%s", line, out)
		*section = append(*section, rr)
	}
	return r
}

// addresses returns the A and AAAA addresses of the answer section.
func (r digResult) addresses() []string {
	var addrs []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			addrs = append(addrs, rr.A.String())
		case *dns.AAAA:
			addrs = append(addrs, rr.AAAA.String())
		}
	}
	return addrs
}

// requireJSONLog checks that every line geodns logged is a JSON object with
// a level and a message.
func requireJSONLog(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.NotEmpty(t, lines)
	for _, line := range lines {
		var entry map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &entry), "log line %q", line)
		require.Contains(t, entry, "level", line)
		require.Contains(t, entry, "message", line)
	}
}

// requireTool finds a program on PATH or in the sbin directories (unbound
// lives in /usr/sbin, which is not on every PATH), failing the test if it
// is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("%s not found on PATH or in /usr/sbin: run `make e2e-deps` (installs dnsutils, curl and unbound)", name)
	return ""
}

// repoRoot is the module's root: go test runs in the package directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "module root not found above %s", root)
	return root
}

// geodnsBin is $GEODNS_BIN (set by `make e2e`), or else a binary built
// from this module into a temporary directory.
func geodnsBin(t *testing.T, root string) string {
	t.Helper()
	if bin := os.Getenv("GEODNS_BIN"); bin != "" {
		_, err := os.Stat(bin)
		require.NoError(t, err, "GEODNS_BIN: run `make build` or `make e2e`")
		return bin
	}
	bin := filepath.Join(t.TempDir(), "geodns")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/geodns")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	return bin
}

// freePort returns a loopback port that was free for both UDP and TCP a
// moment ago; callers retry when it has been taken since.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return port
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return 0
}
