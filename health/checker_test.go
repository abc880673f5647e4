package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/zones"
)

// TestFallAndRise drives the state machine check by check with CheckNow:
// down after exactly Fall failures, up after exactly Rise successes.
func TestFallAndRise(t *testing.T) {
	srv := newServer(t)
	c, logs := start(t, Options{Fall: 3, Rise: 2}, target("us-east", srv.URL, slow))
	waitFirst(t, c)
	st := state(c, "us-east")
	require.True(t, st.Up)
	require.True(t, st.Checked)
	require.Equal(t, "first check succeeded", st.Reason)
	since := st.Since

	srv.status.Store(http.StatusInternalServerError)
	for i := 1; i <= 2; i++ {
		res := checkNow(t, c, "us-east")
		require.False(t, res.OK)
		st = state(c, "us-east")
		require.True(t, st.Up, "down after %d failures", i)
		require.Equal(t, i, st.ConsecutiveFailures)
		require.Equal(t, since, st.Since)
	}
	drain(c)
	checkNow(t, c, "us-east")
	st = state(c, "us-east")
	require.False(t, st.Up)
	want500 := "GET " + srv.URL + ": status 500 (want 200-399)"
	require.Equal(t, "3 consecutive failures: "+want500, st.Reason)
	require.Equal(t, st.LastCheck, st.Since)
	require.Len(t, c.Changed(), 1, "no notification of the flip")

	srv.status.Store(http.StatusOK)
	checkNow(t, c, "us-east")
	st = state(c, "us-east")
	require.False(t, st.Up, "up after 1 success")
	require.Equal(t, 1, st.ConsecutiveSuccesses)
	require.Zero(t, st.ConsecutiveFailures)
	checkNow(t, c, "us-east")
	st = state(c, "us-east")
	require.True(t, st.Up)
	require.Equal(t, "2 consecutive successes", st.Reason)
	require.Positive(t, st.Latency)
	require.Equal(t, int64(6), srv.hits.Load())

	hist, ok := c.History("us-east", 0)
	require.True(t, ok)
	var statuses []int
	var errs []string
	for _, r := range hist {
		statuses = append(statuses, r.Status)
		errs = append(errs, r.Error)
	}
	require.Equal(t, []int{200, 200, 500, 500, 500, 200}, statuses)
	require.Equal(t, []string{"", "", want500, want500, want500, ""}, errs)
	require.Equal(t, st.LastResult, hist[0])

	// One line per state change: the first check, the fall, the rise.
	up, down := logs.lines(t, "region up"), logs.lines(t, "region down")
	require.Len(t, up, 2)
	require.Len(t, down, 1)
	require.Equal(t, "warn", down[0]["level"])
	require.Equal(t, "us-east", down[0]["region"])
	require.Equal(t, srv.URL, down[0]["endpoint"])
	require.Equal(t, "3 consecutive failures: "+want500, down[0]["reason"])
	require.Equal(t, "info", up[1]["level"])
	require.Equal(t, "2 consecutive successes", up[1]["reason"])
}

// TestFallAndRiseScheduled: the same through the scheduled loop.
func TestFallAndRiseScheduled(t *testing.T) {
	srv := newServer(t)
	check := zones.HealthCheck{Interval: 5 * time.Millisecond, Timeout: 2 * time.Second, Fall: 3, Rise: 2}
	c, _ := start(t, Options{}, target("us-east", srv.URL, check))
	require.Eventually(t, func() bool { return state(c, "us-east").Checked }, waitFor, tick)
	require.True(t, state(c, "us-east").Up)

	srv.status.Store(http.StatusServiceUnavailable)
	require.Eventually(t, func() bool { return !state(c, "us-east").Up }, waitFor, tick)
	// The reason is written when the state flips: with the count then.
	require.Equal(t, "3 consecutive failures: GET "+srv.URL+": status 503 (want 200-399)", state(c, "us-east").Reason)

	srv.status.Store(http.StatusOK)
	require.Eventually(t, func() bool { return state(c, "us-east").Up }, waitFor, tick)
	st := state(c, "us-east")
	require.Equal(t, "2 consecutive successes", st.Reason)
	require.Positive(t, st.Latency)
	require.False(t, st.Stale)
}

// TestFlapping: an endpoint alternating between success and failure
// never reaches Fall failures or Rise successes in a row.
func TestFlapping(t *testing.T) {
	for _, firstOK := range []bool{true, false} {
		t.Run(fmt.Sprintf("first check ok %v", firstOK), func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if (n.Add(1)%2 == 1) != firstOK {
					w.WriteHeader(http.StatusInternalServerError)
				}
			}))
			t.Cleanup(srv.Close)
			check := zones.HealthCheck{Interval: 2 * time.Millisecond, Timeout: 2 * time.Second, Fall: 3, Rise: 2}
			c, logs := start(t, Options{}, target("r", srv.URL, check))
			waitFirst(t, c)
			first := state(c, "r")
			require.Equal(t, firstOK, first.Up)
			require.Eventually(t, func() bool { return n.Load() >= 30 }, waitFor, tick)
			st := state(c, "r")
			require.Equal(t, firstOK, st.Up)
			require.Equal(t, first.Since, st.Since)
			require.Equal(t, first.Reason, st.Reason)
			require.LessOrEqual(t, st.ConsecutiveFailures, 1)
			require.LessOrEqual(t, st.ConsecutiveSuccesses, 1)
			require.Len(t, append(logs.lines(t, "region up"), logs.lines(t, "region down")...), 1)
		})
	}
}

// TestTimeoutKeepsOthersOnTime: a hanging endpoint is cut at its timeout
// and another region's checks keep their rhythm meanwhile.
func TestTimeoutKeepsOthersOnTime(t *testing.T) {
	hang, hangHits := hangingServer(t)
	srv := newServer(t)
	const (
		timeout  = 150 * time.Millisecond
		interval = 20 * time.Millisecond
	)
	c, _ := start(t, Options{},
		target("hang", hang.URL, zones.HealthCheck{Interval: 200 * time.Millisecond, Timeout: timeout, Fall: 1}),
		target("fine", srv.URL, zones.HealthCheck{Interval: interval, Timeout: 2 * time.Second}))

	began := time.Now()
	waitFirst(t, c)
	require.Less(t, time.Since(began), 2*time.Second)
	st := state(c, "hang")
	require.False(t, st.Up)
	require.Equal(t, "first check failed: GET "+hang.URL+": timed out after 150ms", st.Reason)
	require.GreaterOrEqual(t, st.LastResult.Latency, timeout)
	require.Less(t, st.LastResult.Latency, time.Second)

	// While the hanging region times out again and again, the healthy one
	// is checked every 20ms ± 10%: no gap comes near the 150ms timeout.
	require.Eventually(t, func() bool { return hangHits.Load() >= 4 }, waitFor, tick)
	hist, _ := c.History("fine", 0)
	require.GreaterOrEqual(t, len(hist), 15)
	var worst time.Duration
	for i := 1; i < len(hist); i++ {
		worst = max(worst, hist[i-1].Time.Sub(hist[i].Time))
	}
	t.Logf("%d checks of the healthy region, longest gap %v", len(hist), worst)
	require.Less(t, worst, 120*time.Millisecond)
	require.True(t, state(c, "fine").Up)
}

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var accepted atomic.Int64
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conn.Close()
		}
	}()
	addr := l.Addr().String()
	check := zones.HealthCheck{Interval: 5 * time.Millisecond, Timeout: 2 * time.Second, Fall: 2}
	c, _ := start(t, Options{},
		target("db", "tcp://"+addr, check),
		target("web", "http://"+addr+"/not-http", zones.HealthCheck{Kind: "tcp", Interval: time.Hour}))
	waitFirst(t, c)
	require.True(t, state(c, "db").Up)
	require.True(t, state(c, "web").Up, state(c, "web").Reason)
	require.Eventually(t, func() bool { return accepted.Load() >= 3 }, waitFor, tick)

	require.NoError(t, l.Close())
	require.Eventually(t, func() bool { return !state(c, "db").Up }, waitFor, tick)
	st := state(c, "db")
	require.Equal(t, "2 consecutive failures: connect to "+addr+": connection refused", st.Reason)
	require.Zero(t, st.LastResult.Status)
	require.Positive(t, st.Latency)
}

// TestSyncRemoves: a removed region stops being checked at once.
func TestSyncRemoves(t *testing.T) {
	a, b := newServer(t), newServer(t)
	check := zones.HealthCheck{Interval: 5 * time.Millisecond, Timeout: 2 * time.Second}
	c, _ := start(t, Options{}, target("a", a.URL, check), target("b", b.URL, check))
	require.Eventually(t, func() bool { return a.hits.Load() >= 3 && b.hits.Load() >= 3 }, waitFor, tick)

	c.Sync([]Target{target("b", b.URL, check)})
	// Sync returned after a's loop ended; a request already on the wire
	// may still reach the server just after.
	time.Sleep(20 * time.Millisecond)
	hitsA, hitsB := a.hits.Load(), b.hits.Load()
	require.Eventually(t, func() bool { return b.hits.Load() >= hitsB+10 }, waitFor, tick)
	require.Equal(t, hitsA, a.hits.Load(), "a removed region is still checked")

	require.NotContains(t, c.States(), "a")
	_, ok := c.History("a", 0)
	require.False(t, ok)
	_, err := c.CheckNow(context.Background(), "a")
	require.ErrorIs(t, err, ErrUnknownRegion)
	require.EqualError(t, err, `unknown region "a"`)
}

// TestSyncRemovesHanging: removing a region cancels its check in flight.
func TestSyncRemovesHanging(t *testing.T) {
	hang, hits := hangingServer(t)
	c, _ := start(t, Options{}, target("hang", hang.URL, zones.HealthCheck{Interval: time.Hour, Timeout: time.Hour}))
	require.Eventually(t, func() bool { return hits.Load() == 1 }, waitFor, tick)
	began := time.Now()
	c.Sync(nil)
	require.Less(t, time.Since(began), time.Second)
	require.Empty(t, c.States())
}

// TestSyncChangesEndpoint: a changed region restarts at its new endpoint
// with a fresh state and history.
func TestSyncChangesEndpoint(t *testing.T) {
	old, next := newServer(t), newServer(t)
	old.status.Store(http.StatusInternalServerError)
	check := zones.HealthCheck{Interval: 5 * time.Millisecond, Timeout: 2 * time.Second, Fall: 1}
	c, _ := start(t, Options{}, target("r", old.URL, check))
	require.Eventually(t, func() bool { return old.hits.Load() >= 3 }, waitFor, tick)
	require.False(t, state(c, "r").Up)

	c.Sync([]Target{target("r", next.URL, check)})
	time.Sleep(20 * time.Millisecond)
	hitsOld := old.hits.Load()
	require.Eventually(t, func() bool { return next.hits.Load() >= 5 }, waitFor, tick)
	require.Equal(t, hitsOld, old.hits.Load(), "the old endpoint is still checked")
	st := state(c, "r")
	require.True(t, st.Up)
	require.Equal(t, "first check succeeded", st.Reason)
	hist, _ := c.History("r", 0)
	for _, r := range hist {
		require.True(t, r.OK, "history of the old endpoint kept: %+v", r)
	}

	// A changed check alone restarts too.
	check.Body = "all ok"
	c.Sync([]Target{target("r", next.URL, check)})
	hist, _ = c.History("r", 0)
	require.LessOrEqual(t, len(hist), 1)
}

// TestSyncSameTargets: syncing the same targets again (even from several
// goroutines) neither duplicates checks nor resets state.
func TestSyncSameTargets(t *testing.T) {
	srv := newServer(t)
	const interval = 50 * time.Millisecond
	tg := target("r", srv.URL, zones.HealthCheck{Interval: interval, Timeout: 2 * time.Second})
	c, _ := start(t, Options{}, tg)
	waitFirst(t, c)
	since := state(c, "r").Since

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				c.Sync([]Target{tg, tg})
			}
		})
	}
	wg.Wait()
	before := srv.hits.Load()
	const window = 500 * time.Millisecond
	time.Sleep(window)
	got := srv.hits.Load() - before
	// One loop makes window/interval = 10 checks (11 at most with -10%
	// jitter and the boundaries); two loops would make about 20.
	t.Logf("%d checks in %v at a %v interval", got, window, interval)
	require.LessOrEqual(t, got, int64(13))
	require.GreaterOrEqual(t, got, int64(5))
	require.Equal(t, since, state(c, "r").Since)
}

// TestSyncConcurrent: Sync from many goroutines with different target
// sets ends in the last set, with one loop per region.
func TestSyncConcurrent(t *testing.T) {
	srv := newServer(t)
	var all []Target
	for i := range 10 {
		all = append(all, target(fmt.Sprintf("r%d", i), srv.URL, zones.HealthCheck{Interval: 10 * time.Millisecond, Timeout: 2 * time.Second}))
	}
	c, _ := start(t, Options{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				var some []Target
				for _, tg := range all {
					if rand.IntN(2) == 0 {
						some = append(some, tg)
					}
				}
				c.Sync(some)
				c.States()
			}
		})
	}
	wg.Wait()
	c.Sync(all)
	require.Eventually(t, func() bool {
		for _, st := range c.States() {
			if !st.Checked {
				return false
			}
		}
		return true
	}, waitFor, tick)
	require.Len(t, c.States(), 10)
	require.Len(t, c.regions, 10)
}

func TestWaitFirstRound(t *testing.T) {
	srv := newServer(t)
	dead := deadAddr(t)
	hang, _ := hangingServer(t)
	c, _ := start(t, Options{Interval: time.Hour})
	began := time.Now()
	c.Sync([]Target{
		target("live", srv.URL, zones.HealthCheck{}),
		target("dead", "http://"+dead, zones.HealthCheck{}),
		target("hang", hang.URL, zones.HealthCheck{Timeout: 100 * time.Millisecond}),
	})
	waitFirst(t, c)
	took := time.Since(began)
	require.GreaterOrEqual(t, took, 100*time.Millisecond, "returned before the hanging check ended")
	require.Less(t, took, 2*time.Second)

	states := c.States()
	require.True(t, states["live"].Up)
	require.True(t, states["live"].Checked)
	require.False(t, states["dead"].Up)
	require.True(t, states["dead"].Checked)
	require.Equal(t, "first check failed: GET http://"+dead+": dial tcp "+dead+": connect: connection refused", states["dead"].Reason)
	require.False(t, states["hang"].Up)
	require.Equal(t, "first check failed: GET "+hang.URL+": timed out after 100ms", states["hang"].Reason)
}

func TestWaitFirstRoundContext(t *testing.T) {
	hang, _ := hangingServer(t)
	c, _ := start(t, Options{}, target("hang", hang.URL, zones.HealthCheck{Timeout: time.Hour}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.WaitFirstRound(ctx), context.DeadlineExceeded)
	require.False(t, state(c, "hang").Checked)

	// A region removed before its first check is not waited for.
	c.Sync(nil)
	waitFirst(t, c)
	empty := New(Options{})
	defer empty.Stop()
	waitFirst(t, empty)
}

func TestCheckNow(t *testing.T) {
	srv := newServer(t)
	hang, _ := hangingServer(t)
	c, _ := start(t, Options{},
		target("r", srv.URL, slow),
		target("hang", hang.URL, zones.HealthCheck{Interval: time.Hour, Timeout: time.Hour}))
	// The first scheduled check of r, then no other for an hour.
	require.Eventually(t, func() bool { return state(c, "r").Checked }, waitFor, tick)
	res := checkNow(t, c, "r")
	require.True(t, res.OK)
	require.Equal(t, 200, res.Status)
	require.False(t, res.Time.IsZero())
	hist, ok := c.History("r", 1)
	require.True(t, ok)
	require.Equal(t, []Result{res}, hist)
	require.Equal(t, res, state(c, "r").LastResult)

	_, err := c.CheckNow(context.Background(), "nope")
	require.ErrorIs(t, err, ErrUnknownRegion)

	// The caller's context bounds the check, which is then not recorded.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = c.CheckNow(ctx, "hang")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, state(c, "hang").Checked)

	// A region removed during the check.
	errc := make(chan error, 1)
	go func() {
		_, err := c.CheckNow(context.Background(), "hang")
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Sync([]Target{target("r", srv.URL, slow)})
	require.EqualError(t, <-errc, `region "hang" was removed or changed during the check`)

	c.Stop()
	_, err = c.CheckNow(context.Background(), "r")
	require.ErrorIs(t, err, ErrStopped)
}

func TestChanged(t *testing.T) {
	srv := newServer(t)
	c, _ := start(t, Options{Fall: 1}, target("r", srv.URL, slow))
	waitFirst(t, c)
	drain(c)
	srv.status.Store(http.StatusBadGateway)
	checkNow(t, c, "r")
	require.Len(t, c.Changed(), 1, "no notification after the region went down")
	<-c.Changed()
	require.False(t, state(c, "r").Up)

	// A failure that changes nothing does not notify.
	drain(c)
	checkNow(t, c, "r")
	require.Empty(t, c.Changed())
	// A success updates the latency (here, and the state): notified.
	srv.status.Store(http.StatusOK)
	checkNow(t, c, "r")
	require.Len(t, c.Changed(), 1)
	// Notifications coalesce: the channel never blocks the checks.
	checkNow(t, c, "r")
	checkNow(t, c, "r")
	require.Len(t, c.Changed(), 1)
}

// clock is a settable Options.Now.
type clock struct{ now atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.now.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.now.Load()) }
func (c *clock) Add(d time.Duration) { c.now.Add(int64(d)) }

func TestStale(t *testing.T) {
	srv := newServer(t)
	clk := newClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	c, _ := start(t, Options{Now: clk.Now},
		target("hourly", srv.URL, zones.HealthCheck{Interval: time.Hour}),
		target("short", srv.URL, zones.HealthCheck{Interval: 2 * time.Hour}))
	waitFirst(t, c)
	st := state(c, "hourly")
	require.False(t, st.Stale)
	require.Equal(t, clk.Now(), st.LastCheck)

	clk.Add(3 * time.Hour)
	require.False(t, state(c, "hourly").Stale, "stale at exactly 3 intervals")
	clk.Add(time.Second)
	st = state(c, "hourly")
	require.True(t, st.Stale)
	require.True(t, st.Up, "a stale state keeps its value")
	require.False(t, state(c, "short").Stale)

	// Options.StaleAfter overrides three intervals; a stopped checker's
	// states turn stale.
	c2, _ := start(t, Options{Now: clk.Now, StaleAfter: time.Minute}, target("r", srv.URL, slow))
	waitFirst(t, c2)
	c2.Stop()
	require.False(t, state(c2, "r").Stale)
	clk.Add(time.Minute + time.Second)
	require.True(t, state(c2, "r").Stale)
}

// TestStaleUnchecked: a region never checked is stale once StaleAfter has
// passed since its checks started.
func TestStaleUnchecked(t *testing.T) {
	hang, _ := hangingServer(t)
	clk := newClock(time.Now())
	c, _ := start(t, Options{Now: clk.Now}, target("hang", hang.URL, zones.HealthCheck{Interval: time.Minute, Timeout: time.Hour}))
	st := state(c, "hang")
	require.Equal(t, State{Region: "hang", Up: true, Since: clk.Now(), Reason: "not checked yet"}, st)
	clk.Add(3*time.Minute + 1)
	st = state(c, "hang")
	require.True(t, st.Stale)
	require.False(t, st.Checked)
	require.True(t, st.Up)
}

func TestConcurrencyLimit(t *testing.T) {
	var inFlight, most atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(10 * time.Millisecond)
	}))
	t.Cleanup(srv.Close)
	var targets []Target
	for i := range 12 {
		targets = append(targets, target(fmt.Sprintf("r%d", i), srv.URL, slow))
	}
	c, _ := start(t, Options{Concurrency: 3}, targets...)
	waitFirst(t, c)
	require.Equal(t, int64(3), most.Load())
}

func TestHistoryRing(t *testing.T) {
	srv := newServer(t)
	c, _ := start(t, Options{HistorySize: 5}, target("r", srv.URL, slow))
	waitFirst(t, c)
	var made []Result
	for range 7 {
		made = append(made, checkNow(t, c, "r"))
	}
	hist, ok := c.History("r", 0)
	require.True(t, ok)
	require.Equal(t, []Result{made[6], made[5], made[4], made[3], made[2]}, hist)
	hist, _ = c.History("r", 2)
	require.Equal(t, []Result{made[6], made[5]}, hist)
	hist, _ = c.History("r", 100)
	require.Len(t, hist, 5)

	var h ring
	h.size = 3
	require.Empty(t, h.newest(0))
	for i := 1; i <= 4; i++ {
		h.add(Result{Status: i})
	}
	require.Equal(t, []Result{{Status: 4}, {Status: 3}, {Status: 2}}, h.newest(0))
}

// TestBadTarget: a target that cannot be checked is down with the reason.
func TestBadTarget(t *testing.T) {
	c, logs := start(t, Options{}, target("r", "ftp://files.example.com", zones.HealthCheck{}))
	waitFirst(t, c)
	st := state(c, "r")
	require.False(t, st.Up)
	require.Equal(t, `first check failed: cannot check endpoint ftp://files.example.com: unknown check kind "ftp"`, st.Reason)
	require.Len(t, logs.lines(t, "region down"), 1)
}

// TestDefaults: the check's own settings win over Options, which win over
// the package defaults.
func TestDefaults(t *testing.T) {
	c := New(Options{})
	defer c.Stop()
	r := c.newRegion(target("r", "http://192.0.2.1", zones.HealthCheck{}))
	require.Equal(t, config{interval: 30 * time.Second, timeout: 5 * time.Second, staleAfter: 90 * time.Second, fall: 3, rise: 2}, r.cfg)
	r = c.newRegion(target("r", "http://192.0.2.1", zones.HealthCheck{Interval: 3 * time.Second}))
	require.Equal(t, config{interval: 3 * time.Second, timeout: time.Second, staleAfter: 9 * time.Second, fall: 3, rise: 2}, r.cfg)

	c = New(Options{Interval: time.Minute, Fall: 5, Rise: 4, StaleAfter: time.Hour})
	defer c.Stop()
	r = c.newRegion(target("r", "http://192.0.2.1", zones.HealthCheck{}))
	require.Equal(t, config{interval: time.Minute, timeout: 5 * time.Second, staleAfter: time.Hour, fall: 5, rise: 4}, r.cfg)
	r = c.newRegion(target("r", "http://192.0.2.1", zones.HealthCheck{Interval: time.Second, Timeout: 2 * time.Second, Fall: 1, Rise: 1}))
	require.Equal(t, config{interval: time.Second, timeout: 2 * time.Second, staleAfter: time.Hour, fall: 1, rise: 1}, r.cfg)

	for range 100 {
		d := jittered(time.Second)
		require.GreaterOrEqual(t, d, 900*time.Millisecond)
		require.LessOrEqual(t, d, 1100*time.Millisecond)
	}
}

// TestStopEndsGoroutines: Stop waits for every loop, checks in flight
// included, and leaves no goroutine behind.
func TestStopEndsGoroutines(t *testing.T) {
	srv := newServer(t)
	hang, hangHits := hangingServer(t)
	base := runtime.NumGoroutine()

	c := New(Options{Log: zeroLog()})
	var targets []Target
	for i := range 20 {
		targets = append(targets, target(fmt.Sprintf("r%d", i), srv.URL, zones.HealthCheck{Interval: 5 * time.Millisecond, Timeout: time.Second}))
	}
	targets = append(targets, target("hang", hang.URL, zones.HealthCheck{Timeout: time.Hour}))
	c.Sync(targets)
	require.Eventually(t, func() bool { return srv.hits.Load() >= 60 && hangHits.Load() == 1 }, waitFor, tick)
	require.Greater(t, runtime.NumGoroutine(), base+20)
	c.Stop()
	c.Stop() // idempotent
	c.Sync(targets)
	// Polled by hand: require.Eventually runs the condition on goroutines
	// of its own.
	left := runtime.NumGoroutine()
	for deadline := time.Now().Add(waitFor); left > base && time.Now().Before(deadline); left = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	require.LessOrEqual(t, left, base, "goroutines left behind")
	require.Len(t, c.States(), 21, "states are kept after Stop")
}

func TestJSON(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	st := State{Region: "r", Up: true, Checked: true, Since: at, Reason: "x", Latency: 1500,
		LastCheck: at, LastResult: Result{Time: at, OK: true, Latency: 1500, Status: 200}, ConsecutiveSuccesses: 2}
	data, err := json.Marshal(st)
	require.NoError(t, err)
	require.JSONEq(t, `{"region":"r","up":true,"checked":true,"since":"2030-01-02T03:04:05Z","reason":"x","latency":1500,
		"last_check":"2030-01-02T03:04:05Z","last_result":{"time":"2030-01-02T03:04:05Z","ok":true,"latency":1500,"status":200,"error":""},
		"stale":false,"consecutive_failures":0,"consecutive_successes":2}`, string(data))
}

// TestManyRegions measures a thousand regions checked every 100ms against
// one server for about a second.
func TestManyRegions(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	base := runtime.NumGoroutine()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const n = 1000
	targets := make([]Target, n)
	for i := range targets {
		targets[i] = target(fmt.Sprintf("r%d", i), srv.URL, zones.HealthCheck{Interval: 100 * time.Millisecond, Timeout: 5 * time.Second})
	}
	c := New(Options{Log: zeroLog()})
	began := time.Now()
	c.Sync(targets)
	waitFirst(t, c)
	firstRound := time.Since(began)
	time.Sleep(time.Second - firstRound%time.Second)
	elapsed := time.Since(began)

	goroutines := runtime.NumGoroutine() - base
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	states := c.States()
	c.Stop()
	require.Len(t, states, n)
	var checks int
	for name, st := range states {
		require.True(t, st.Checked, name)
		require.True(t, st.Up, "%s: %s", name, st.Reason)
		h, _ := c.History(name, 0)
		checks += len(h)
	}
	t.Logf("%d regions: first round in %v; %d checks (%d requests) in %v = %.0f/s (ideal %d/s); %d goroutines; heap %+.1f MiB (%.1f MiB in use)",
		n, firstRound.Round(time.Millisecond), checks, hits.Load(), elapsed.Round(time.Millisecond),
		float64(checks)/elapsed.Seconds(), n*10, goroutines,
		float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), float64(after.HeapAlloc)/(1<<20))
}
