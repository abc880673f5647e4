//go:build e2e

// End-to-end tests of the status page: the real geodns binary serves it and
// headless Chromium (Debian's chromium package, which `make e2e-deps`
// installs) loads it, with the regions' health checks pointed at loopback
// HTTP servers the test makes fail and recover.
package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

const (
	// pageRefresh is the refresh the page is opened with (?refresh=MS).
	pageRefresh = 500 * time.Millisecond
	// checkInterval is every region's health check interval (statusZone).
	checkInterval = 250 * time.Millisecond
	// browserTimeout bounds Chromium's start.
	browserTimeout = 30 * time.Second
	// pageTimeout bounds waits for what every refresh shows.
	pageTimeout = 10 * time.Second
	// downTimeout bounds the wait for a failing region to turn red: fall
	// (2) checks and their timeouts, jitter, and two refreshes, with slack
	// for a loaded machine.
	downTimeout = 6*checkInterval + 2*pageRefresh + 2*time.Second
	// refreshSlack is how much later than one refresh after the API the
	// page may show a change: the fetches and the redraw.
	refreshSlack = 1500 * time.Millisecond
)

// statusZone serves example.test. (startGeodnsWith waits for its SOA) with
// three regions checked at %[1]s/REGION every checkInterval, down after two
// failed checks and up after one good one.
const statusZone = `zone: example.test.
records: |
  @    SOA ns1 hostmaster 1 7200 1800 259200 900
  @    NS  ns1
  ns1  A   192.0.2.53
regions:
  us-east:
    endpoint: %[1]s/us-east
    addresses: [192.0.2.10]
    location: {latitude: 38.9, longitude: -77.0}
    continents: [NA]
    check: {interval: 250ms, timeout: 200ms, fall: 2, rise: 1}
  eu-west:
    endpoint: %[1]s/eu-west
    addresses: [198.51.100.10]
    location: {latitude: 50.1, longitude: 8.7}
    continents: [EU]
    check: {interval: 250ms, timeout: 200ms, fall: 2, rise: 1}
  ap-south:
    endpoint: %[1]s/ap-south
    addresses: [203.0.113.10]
    location: {latitude: 1.35, longitude: 103.8}
    check: {interval: 250ms, timeout: 200ms, fall: 2, rise: 1}
services:
  www:
    strategy: geo
    ttl: 30
    default: ap-south
  api:
    regions: [us-east, eu-west]
    strategy: weighted
`

var allUp = map[string]string{"us-east": "up", "eu-west": "up", "ap-south": "up"}

// TestE2EStatusPage opens the status page in headless Chromium: every
// region is shown up with its checks, the services' strategies and the
// queries per second; a region whose checks fail turns red within a
// refresh of the API saying so, while the others stay up, and recovers.
func TestE2EStatusPage(t *testing.T) {
	root := repoRoot(t)
	targets := newHealthTargets(t)
	gd := startGeodnsWith(t, root, statusZones(t, targets.URL), filepath.Join(t.TempDir(), "data"))
	ctx, console := newBrowser(t)
	navigate(t, ctx, fmt.Sprintf("%s/?refresh=%d", gd.apiURL(), pageRefresh.Milliseconds()))

	t.Run("every region is shown up", func(t *testing.T) {
		waitPage(t, ctx, pageTimeout, "every region up", statesAre(allUp))
		for region := range allUp {
			require.False(t, reddish(rowColours(t, ctx, region).Row), "%s is up but its row is red", region)
		}
		// Each refresh draws the checks made since the last one.
		waitPage(t, ctx, pageTimeout, "sparklines with checks",
			`[...document.querySelectorAll('#regions svg.spark')].every(s => Number(s.dataset.checks) >= 2)`)
	})

	t.Run("strategies and failovers are shown", func(t *testing.T) {
		waitPage(t, ctx, pageTimeout, "two services", `document.querySelectorAll('#services tr[data-service]').length === 2`)
		got := evaluate[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll('#services tr[data-service]')].map(tr => [tr.dataset.service, tr.dataset.strategy]))`)
		require.Equal(t, map[string]string{"www.example.test.": "geo", "api.example.test.": "weighted"}, got)
		require.Equal(t, "round_robin", evaluate[string](t, ctx, `document.getElementById('strategy').textContent`))
		require.Equal(t, "none", evaluate[string](t, ctx, `document.getElementById('failovers').textContent`))
	})

	t.Run("queries per second", func(t *testing.T) {
		stop := sendQueries(t, gd.port)
		defer stop()
		waitPage(t, ctx, pageTimeout, "queries per second above 0",
			`Number(document.getElementById('qps').dataset.value) > 0 && Number(document.getElementById('queries-total').dataset.value) > 0`)
		require.Regexp(t, `^[0-9][0-9.,]*$`, evaluate[string](t, ctx, `document.getElementById('qps').textContent`))
	})

	t.Run("a failing region turns red within a refresh", func(t *testing.T) {
		apiDown := watchRegionDown(t, gd.apiURL(), "eu-west")
		failed := time.Now()
		targets.set("eu-west", http.StatusInternalServerError)
		waitPage(t, ctx, downTimeout, "eu-west down", statesAre(map[string]string{"us-east": "up", "eu-west": "down", "ap-south": "up"}))
		shown := time.Now()
		seen := apiDown()
		require.False(t, seen.IsZero(), "the page shows eu-west down before the API does")
		t.Logf("eu-west failed; down in the API after %v, on the page %v later", seen.Sub(failed).Round(time.Millisecond), shown.Sub(seen).Round(time.Millisecond))
		require.LessOrEqual(t, shown.Sub(seen), pageRefresh+refreshSlack, "the page shows the change more than a refresh after the API")

		c := rowColours(t, ctx, "eu-west")
		require.True(t, reddish(c.Row), "row background %s is not red", c.Row)
		require.True(t, reddish(c.Badge), "state badge background %s is not red", c.Badge)
		for _, region := range []string{"us-east", "ap-south"} {
			require.False(t, reddish(rowColours(t, ctx, region).Row), "%s stayed up but its row is red", region)
		}
		waitPage(t, ctx, pageTimeout, "eu-west's automatic failover listed",
			`document.querySelector('#failovers li[data-failover="automatic"][data-region="eu-west"]') !== null`)
		waitPage(t, ctx, pageTimeout, "eu-west's failed checks in its sparkline",
			`Number(document.querySelector('tr[data-region="eu-west"] svg.spark').dataset.failed) >= 2`)
	})

	t.Run("a recovered region turns back", func(t *testing.T) {
		targets.set("eu-west", http.StatusOK)
		waitPage(t, ctx, downTimeout, "every region up again", statesAre(allUp))
		require.False(t, reddish(rowColours(t, ctx, "eu-west").Row))
	})

	requireQuietConsole(t, console)
}

// TestE2EStatusPageToken: with --api-auth-all the page loads without the
// token, asks for it, refuses a wrong one and, given the right one, shows
// the regions and keeps the token for the tab.
func TestE2EStatusPageToken(t *testing.T) {
	root := repoRoot(t)
	targets := newHealthTargets(t)
	apiURL := startGeodnsAuthAll(t, root, statusZones(t, targets.URL))
	ctx, console := newBrowser(t)
	navigate(t, ctx, fmt.Sprintf("%s/?refresh=%d", apiURL, pageRefresh.Milliseconds()))

	waitPage(t, ctx, pageTimeout, "a token asked for",
		`!document.getElementById('auth').hidden && document.getElementById('auth-message').textContent === 'API token required'`)
	require.Zero(t, evaluate[int](t, ctx, `document.querySelectorAll('#regions tr[data-region]').length`))

	enterToken(t, ctx, "wrong-token")
	waitPage(t, ctx, pageTimeout, "the wrong token refused",
		`!document.getElementById('auth').hidden && document.getElementById('auth-message').textContent === 'API token rejected'`)

	enterToken(t, ctx, e2eToken)
	waitPage(t, ctx, pageTimeout, "every region up with the token", statesAre(allUp))
	require.True(t, evaluate[bool](t, ctx, `document.getElementById('auth').hidden`))

	// The tab keeps the token: a reload needs no new one.
	require.NoError(t, chromedp.Do(boundedCtx(t, ctx), chromedp.Reload()))
	waitPage(t, ctx, pageTimeout, "every region up after a reload", statesAre(allUp))

	requireQuietConsole(t, console,
		// The page's own reads before it had the right token.
		"the server responded with a status of 401")
}

// healthTargets answers every region's checks at /REGION with a status
// the test switches (200 until set).
type healthTargets struct {
	*httptest.Server
	mu     sync.Mutex
	status map[string]int
}

func newHealthTargets(t *testing.T) *healthTargets {
	h := &healthTargets{status: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		code, ok := h.status[strings.TrimPrefix(r.URL.Path, "/")]
		h.mu.Unlock()
		if !ok {
			code = http.StatusOK
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close) // after geodns, whose cleanup is registered later
	return h
}

func (h *healthTargets) set(region string, code int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status[region] = code
}

// statusZones writes statusZone, checked at baseURL, to a zones directory.
func statusZones(t *testing.T, baseURL string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "example.test.yaml"), fmt.Appendf(nil, statusZone, baseURL), 0o644))
	return dir
}

// startGeodnsAuthAll serves zonesDir with --api-auth-all (token e2eToken)
// and returns the API's URL once it is ready.
func startGeodnsAuthAll(t *testing.T, root, zonesDir string) string {
	t.Helper()
	return startGeodnsWith(t, root, zonesDir, filepath.Join(t.TempDir(), "data"), "--api-auth-all").apiURL()
}

// newBrowser starts headless Chromium and returns the context of a tab,
// and the console messages the tab logs from then on. The browser is
// stopped when the test ends.
func newBrowser(t *testing.T) (context.Context, *consoleLog) {
	t.Helper()
	bin := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		// CI runs as root, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser to exit
	})
	// The first action starts the browser, which lives as long as the
	// context it runs with: it cannot take a timeout, so it is bounded
	// from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		require.NoError(t, err, "start %s", bin)
	case <-time.After(browserTimeout):
		cancel()
		t.Fatalf("%s did not start within %v", bin, browserTimeout)
	}
	return ctx, newConsoleLog(ctx)
}

// chromiumPath finds Debian's chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run `make e2e-deps` (installs Debian's chromium package)")
	return ""
}

// consoleLog collects the errors a tab writes to its console: uncaught
// exceptions, console.error calls and browser errors such as CSP
// violations.
type consoleLog struct {
	mu     sync.Mutex
	errors []string
}

func newConsoleLog(ctx context.Context) *consoleLog {
	c := &consoleLog{}
	messages := chromedp.Console(ctx)
	go func() {
		// Ends with the tab's context.
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				c.mu.Lock()
				c.errors = append(c.errors, m.String())
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// requireQuietConsole fails the test if the page logged errors other
// than those containing one of the expected texts.
func requireQuietConsole(t *testing.T, c *consoleLog, expected ...string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var unexpected []string
	for _, e := range c.errors {
		if !containsAny(e, expected) {
			unexpected = append(unexpected, e)
		}
	}
	require.Empty(t, unexpected, "the page logged errors")
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// boundedCtx derives a context for one action from the tab's; its timeout
// ends the action, not the tab.
func boundedCtx(t *testing.T, ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	t.Cleanup(cancel)
	return ctx
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	require.NoError(t, chromedp.Do(boundedCtx(t, ctx), chromedp.Navigate(url)), "open %s", url)
}

func enterToken(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	require.NoError(t, chromedp.Do(boundedCtx(t, ctx),
		chromedp.SendKeys(chromedp.ID("token"), token, chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS("#auth button"), chromedp.NodeVisible),
	))
}

// evaluate runs a JavaScript expression in the page and decodes its value.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(boundedCtx(t, ctx), chromedp.Evaluate[T](expr))
	require.NoError(t, err, "evaluate %s", expr)
	return v
}

// waitPage polls a JavaScript predicate in the page until it holds,
// failing the test with the page's text after timeout.
func waitPage(t *testing.T, ctx context.Context, timeout time.Duration, what, predicate string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := chromedp.Run(wctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		text, _ := chromedp.Run(boundedCtx(t, ctx), chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: not within %v: %v\npage:\n%s", what, timeout, err, text)
	}
}

// statesAre is a predicate: the page shows exactly the regions of want,
// each in its state (data-state).
func statesAre(want map[string]string) string {
	w, _ := json.Marshal(want)
	return fmt.Sprintf(`(() => {
		const want = %s, got = {};
		for (const tr of document.querySelectorAll('#regions tr[data-region]')) got[tr.dataset.region] = tr.dataset.state;
		return Object.keys(got).length === Object.keys(want).length && Object.keys(want).every(k => got[k] === want[k]);
	})()`, w)
}

type colours struct {
	Row   string `json:"row"`
	Badge string `json:"badge"`
}

// rowColours are the computed background colours of a region's row and
// of its state badge.
func rowColours(t *testing.T, ctx context.Context, region string) colours {
	t.Helper()
	return evaluate[colours](t, ctx, fmt.Sprintf(`(() => {
		const tr = document.querySelector('#regions tr[data-region=%q]');
		return {row: getComputedStyle(tr).backgroundColor, badge: getComputedStyle(tr.querySelector('.badge')).backgroundColor};
	})()`, region))
}

var rgb = regexp.MustCompile(`^rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)$`)

// reddish reports an opaque colour whose red clearly dominates.
func reddish(colour string) bool {
	m := rgb.FindStringSubmatch(colour)
	if m == nil || m[4] == "0" {
		return false
	}
	r, _ := strconv.Atoi(m[1])
	g, _ := strconv.Atoi(m[2])
	b, _ := strconv.Atoi(m[3])
	return r >= 150 && r-g >= 40 && r-b >= 40
}

// watchRegionDown polls the API until it reports region down; the
// returned func stops polling and says when it first did (zero: not yet).
func watchRegionDown(t *testing.T, apiURL, region string) func() time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	var (
		mu   sync.Mutex
		seen time.Time
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		c := &http.Client{Timeout: time.Second}
		for ctx.Err() == nil {
			if regionDown(ctx, c, apiURL, region) {
				mu.Lock()
				seen = time.Now()
				mu.Unlock()
				return
			}
			select {
			case <-ctx.Done():
			// Gently: the page's reads share the client's API rate limit.
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	stop := func() time.Time {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	t.Cleanup(func() { stop() })
	return stop
}

func regionDown(ctx context.Context, c *http.Client, apiURL, region string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+"/api/v1/lb/regions/"+region, nil)
	if err != nil {
		return false
	}
	res, err := c.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	var r struct {
		Health struct {
			Status string `json:"status"`
		} `json:"health"`
	}
	return json.NewDecoder(res.Body).Decode(&r) == nil && r.Health.Status == "down"
}

// sendQueries queries www.example.test A over UDP every 20ms until the
// returned func is called.
func sendQueries(t *testing.T, port int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
		q := new(dns.Msg).SetQuestion("www.example.test.", dns.TypeA)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for {
			_, _, _ = c.ExchangeContext(ctx, q, addr)
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
