package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/api"
	"github.com/geodns/geodns/balancer"
	dnsserver "github.com/geodns/geodns/dns"
	"github.com/geodns/geodns/geo"
	"github.com/geodns/geodns/health"
	"github.com/geodns/geodns/zones"
)

// Polling bounds: generous limits, short ticks.
const (
	waitFor = 5 * time.Second
	tick    = 5 * time.Millisecond
)

const testToken = "s3cret-token"

// lbZone is a second zone beside the bundled example: its service app
// lists no regions and names no strategy, so it follows the default
// strategy over every region (the example's services pin theirs).
const lbZone = `zone: lb.test.
records: |
  @ SOA ns1 hostmaster 1 7200 1800 259200 900
  @ NS ns1
  ns1 A 192.0.2.53
services:
  app: {}
`

// backends answers health checks for every region at /REGION, with a
// status the test can switch per region (200 by default).
type backends struct {
	*httptest.Server
	mu     sync.Mutex
	status map[string]int
}

func newBackends(t testing.TB) *backends {
	b := &backends{status: map[string]int{}}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		code, ok := b.status[strings.TrimPrefix(r.URL.Path, "/")]
		b.mu.Unlock()
		if !ok {
			code = http.StatusOK
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backends) set(region string, code int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status[region] = code
}

// targets points every region's checks at the backends: the regions'
// own endpoints (us.example.com, ...) are not reachable from a test.
func (b *backends) targets(set *zones.Set) []health.Target {
	out := make([]health.Target, 0, len(set.RegionNames))
	for _, name := range set.RegionNames {
		out = append(out, health.Target{Region: name, Endpoint: b.URL + "/" + name, Check: set.Regions[name].Check})
	}
	return out
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// env is a whole server: zones from a directory, runtime state in a data
// directory, the DNS server, the health checker and the API.
type env struct {
	t        testing.TB
	zonesDir string
	dataDir  string
	backends *backends
	opts     func(*api.Options)
	logs     *syncBuffer
	geo      *geo.DB

	store   *balancer.Store
	ctl     *balancer.Control
	checker *health.Checker
	dns     *dnsserver.Server
	api     *api.Server
	stop    context.CancelFunc
	done    chan struct{}
	url     string
	token   string
}

// newEnv starts a server over a copy of testdata/zones plus lbZone; opts
// adjusts the API's options (the token is testToken unless changed).
func newEnv(t testing.TB, opts func(*api.Options)) *env {
	t.Helper()
	e := &env{t: t, zonesDir: t.TempDir(), dataDir: t.TempDir(), backends: newBackends(t), opts: opts, logs: &syncBuffer{}}
	example, err := os.ReadFile("../testdata/zones/example.test.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(e.zonesDir, "example.test.yaml"), example, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(e.zonesDir, "lb.test.yaml"), []byte(lbZone), 0o600))
	// Opened once, and closed after the last shutdown (cleanups run last
	// registered first).
	e.geo, err = geo.Open("../testdata/geoip-city.mmdb")
	require.NoError(t, err)
	t.Cleanup(func() { e.geo.Close() })
	e.start()
	t.Cleanup(e.shutdown)
	return e
}

func (e *env) start() {
	t := e.t
	set, err := zones.LoadDir(e.zonesDir, nil)
	require.NoError(t, err)
	e.store = balancer.NewStore(&balancer.Snapshot{Zones: set, Geo: e.geo, DefaultStrategy: balancer.RoundRobin, NodeID: "node-test"})
	path := filepath.Join(e.dataDir, zones.RuntimeFile)
	rt, err := zones.LoadRuntime(path)
	require.NoError(t, err)
	e.ctl = balancer.NewControl(e.store, rt, func(rt zones.Runtime) error { return rt.Save(path) })
	require.NoError(t, e.ctl.LoadError())

	log := zerolog.New(e.logs)
	e.checker = health.New(health.Options{Interval: time.Hour, Fall: 1, Rise: 1, Log: log})
	e.checker.Sync(e.backends.targets(e.store.Load().Zones))
	e.ctl.OnRegions = func(set *zones.Set) { e.checker.Sync(e.backends.targets(set)) }
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, e.checker.WaitFirstRound(ctx))
	e.stop, e.done = cancel, make(chan struct{})
	e.publishHealth()
	go func() {
		defer close(e.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.checker.Changed():
				e.publishHealth()
			}
		}
	}()

	e.dns = dnsserver.NewServer(e.store, log)
	require.NoError(t, e.dns.Listen("127.0.0.1:0"))

	opts := api.Options{
		Store: e.store, Control: e.ctl, Health: e.checker, Token: testToken,
		NodeID: "node-test", Version: "test", Ready: func() bool { return true }, Log: log,
	}
	if e.opts != nil {
		e.opts(&opts)
	}
	e.token = opts.Token
	e.api = api.New(opts)
	require.NoError(t, e.api.Start("127.0.0.1:0", "", ""))
	e.url = "http://" + e.api.Addr()
}

// publishHealth feeds the checker's states to the balancer, as serve does.
func (e *env) publishHealth() {
	view := balancer.HealthView{}
	for name, st := range e.checker.States() {
		if st.Checked {
			view[name] = balancer.RegionHealth{Down: !st.Up, Latency: st.Latency, Reason: st.Reason, Since: st.Since, Stale: st.Stale}
		}
	}
	e.ctl.SetHealth(view)
}

func (e *env) shutdown() {
	if e.api == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(e.t, e.api.Shutdown(ctx))
	require.NoError(e.t, e.dns.Shutdown(ctx))
	e.stop()
	<-e.done
	e.checker.Stop()
	e.api = nil
}

// restart stops everything and starts it again over the same zones and
// data directories, as a process restart would.
func (e *env) restart() {
	e.shutdown()
	e.start()
}

// response is an API answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), string(r.Body))
	return m
}

// apiError decodes an error answer.
func (r response) apiError(t *testing.T) (msg, field string) {
	t.Helper()
	var body struct {
		Error *string `json:"error"`
		Field *string `json:"field"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &body), string(r.Body))
	require.NotNil(t, body.Error, string(r.Body))
	require.NotNil(t, body.Field, string(r.Body))
	return *body.Error, *body.Field
}

// call sends a request with the env's token; body is sent as is.
func (e *env) call(method, path, body string) response {
	e.t.Helper()
	return e.callWith(method, path, body, e.token)
}

func (e *env) callWith(method, path, body, token string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	require.NoError(e.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return response{Status: res.StatusCode, Header: res.Header, Body: data}
}

// query asks the DNS server for name's A records, from the ECS subnet
// when one is given, and returns the addresses answered.
func (e *env) query(name, subnet string) []string {
	e.t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(dns.Fqdn(name), dns.TypeA)
	if subnet != "" {
		req.SetEdns0(dnsserver.MaxUDPSize, false)
		req.IsEdns0().Option = append(req.IsEdns0().Option, dnsserver.ClientSubnet(netip.MustParsePrefix(subnet)))
	}
	res, _, err := new(dns.Client).Exchange(req, e.dns.Addrs()[0])
	require.NoError(e.t, err)
	require.Equal(e.t, dns.RcodeSuccess, res.Rcode, res.String())
	var out []string
	for _, rr := range res.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+rr.Target)
		}
	}
	return out
}

// distribution counts the first address of n answers.
func (e *env) distribution(name, subnet string, n int) map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for range n {
		out[e.query(name, subnet)[0]]++
	}
	return out
}
