package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/geodns/geodns/zones"
)

// Defaults of Options and of a region's check.
const (
	DefaultInterval    = 30 * time.Second
	DefaultFall        = 3
	DefaultRise        = 2
	DefaultConcurrency = 64
	DefaultHistorySize = 100
	// maxDefaultTimeout caps the default timeout, a third of the interval.
	maxDefaultTimeout = 5 * time.Second
	// latencyAlpha weighs a new latency sample in the moving average.
	latencyAlpha = 0.3
	// jitter is the random share of the interval added to or taken from
	// the wait between two checks.
	jitter = 0.1
)

var (
	// ErrUnknownRegion is returned (wrapped) by CheckNow for a region that
	// is not a current target.
	ErrUnknownRegion = errors.New("unknown region")
	// ErrStopped is returned by CheckNow once the checker is stopped.
	ErrStopped = errors.New("health checker stopped")
)

// Target is a region to check.
type Target struct {
	Region   string
	Endpoint string
	Check    zones.HealthCheck
}

// Options configure a Checker. Zero values take the defaults.
type Options struct {
	Interval    time.Duration // default interval (HEALTH_CHECK_INTERVAL), default 30s
	Fall        int           // default failure threshold (FAILOVER_THRESHOLD), default 3
	Rise        int           // default success threshold, default 2
	Concurrency int           // max checks in flight, default 64
	HistorySize int           // results kept per region (ring buffer), default 100
	StaleAfter  time.Duration // state older than this is stale; default 3×interval of the region
	Log         zerolog.Logger
	Now         func() time.Time // for tests; default time.Now
}

// Result is the outcome of one check.
type Result struct {
	// Time the check finished.
	Time time.Time `json:"time"`
	OK   bool      `json:"ok"`
	// Latency to the response headers (http, https) or the connection
	// (tcp); for a failed check, the time it took to fail.
	Latency time.Duration `json:"latency"`
	// Status is the HTTP status, 0 when there was none.
	Status int `json:"status"`
	// Error says why the check failed; "" when it succeeded.
	Error string `json:"error"`
}

// State is what the checker knows of a region.
type State struct {
	Region string `json:"region"`
	Up     bool   `json:"up"`
	// Checked is true once at least one check completed; before that Up
	// is true by default.
	Checked bool `json:"checked"`
	// Since is the time of the last state change (or of the first check,
	// or of the start of checks before it).
	Since time.Time `json:"since"`
	// Reason says why the region is in this state, e.g. "3 consecutive
	// failures: GET https://...: status 500 (want 200-399)".
	Reason string `json:"reason"`
	// Latency is the moving average of successful checks' latency; 0 =
	// never measured.
	Latency              time.Duration `json:"latency"`
	LastCheck            time.Time     `json:"last_check"`
	LastResult           Result        `json:"last_result"`
	Stale                bool          `json:"stale"`
	ConsecutiveFailures  int           `json:"consecutive_failures"`
	ConsecutiveSuccesses int           `json:"consecutive_successes"`
}

// Checker checks regions; see the package documentation.
type Checker struct {
	opts    Options
	sem     chan struct{}
	changed chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	syncMu sync.Mutex // serialises Sync and Stop
	mu     sync.Mutex // guards the fields below and every region's state
	// regions holds the current targets by name. After Stop it keeps
	// them, so that their last states can still be read.
	regions map[string]*region
	stopped bool
}

// region is one target's loop and state.
type region struct {
	target Target
	cfg    config
	probe  probe
	ctx    context.Context // cancelled when the region is removed or changed
	cancel context.CancelFunc
	done   chan struct{} // closed when the loop has ended
	// first is closed after the first completed check, or when the loop
	// ends without one.
	first     chan struct{}
	firstOnce sync.Once
	started   time.Time

	// Guarded by Checker.mu.
	state   State
	history ring
}

// config is a target's check settings with the defaults filled in.
type config struct {
	interval, timeout, staleAfter time.Duration
	fall, rise                    int
}

// New returns a Checker with no targets; Sync gives it some.
func New(opts Options) *Checker {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Fall <= 0 {
		opts.Fall = DefaultFall
	}
	if opts.Rise <= 0 {
		opts.Rise = DefaultRise
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.HistorySize <= 0 {
		opts.HistorySize = DefaultHistorySize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Checker{
		opts:    opts,
		sem:     make(chan struct{}, opts.Concurrency),
		changed: make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
		regions: map[string]*region{},
	}
}

// Sync makes targets the set of regions checked: it starts new regions,
// stops removed ones at once (cancelling their checks in flight) and
// restarts, with a fresh state, those whose endpoint or check changed.
// Unchanged regions go on undisturbed. When a region is listed twice the
// first entry counts. Sync returns once the loops of removed regions have
// ended. It does nothing after Stop.
func (c *Checker) Sync(targets []Target) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	want := make(map[string]Target, len(targets))
	for _, t := range targets {
		if prev, dup := want[t.Region]; dup {
			c.opts.Log.Warn().Str("region", t.Region).Str("endpoint", t.Endpoint).Str("kept", prev.Endpoint).
				Msg("health check target listed twice, the first one is kept")
			continue
		}
		want[t.Region] = t
	}

	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	var ended []*region
	for name, r := range c.regions {
		if t, ok := want[name]; !ok || t != r.target {
			r.cancel()
			delete(c.regions, name)
			ended = append(ended, r)
		}
	}
	var started []*region
	for name, t := range want {
		if c.regions[name] == nil {
			r := c.newRegion(t)
			c.regions[name] = r
			started = append(started, r)
		}
	}
	c.wg.Add(len(started))
	for _, r := range started {
		go c.run(r)
	}
	c.mu.Unlock()

	for _, r := range ended {
		<-r.done
		c.opts.Log.Debug().Str("region", r.target.Region).Str("endpoint", r.target.Endpoint).Msg("health checks stopped")
	}
	for _, r := range started {
		c.opts.Log.Debug().Str("region", r.target.Region).Str("endpoint", r.target.Endpoint).
			Dur("interval", r.cfg.interval).Dur("timeout", r.cfg.timeout).Int("fall", r.cfg.fall).Int("rise", r.cfg.rise).
			Msg("health checks started")
	}
	if len(ended)+len(started) > 0 {
		c.notify()
	}
}

// newRegion prepares a target's loop; the caller holds c.mu.
func (c *Checker) newRegion(t Target) *region {
	cfg := config{interval: t.Check.Interval, timeout: t.Check.Timeout, fall: t.Check.Fall, rise: t.Check.Rise}
	if cfg.interval <= 0 {
		cfg.interval = c.opts.Interval
	}
	if cfg.timeout <= 0 {
		cfg.timeout = min(maxDefaultTimeout, cfg.interval/3)
	}
	if cfg.fall <= 0 {
		cfg.fall = c.opts.Fall
	}
	if cfg.rise <= 0 {
		cfg.rise = c.opts.Rise
	}
	cfg.staleAfter = c.opts.StaleAfter
	if cfg.staleAfter <= 0 {
		cfg.staleAfter = 3 * cfg.interval
	}
	ctx, cancel := context.WithCancel(c.ctx)
	now := c.opts.Now()
	return &region{
		target:  t,
		cfg:     cfg,
		probe:   newProbe(t, cfg.timeout),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		first:   make(chan struct{}),
		started: now,
		state:   State{Region: t.Region, Up: true, Since: now, Reason: "not checked yet"},
		history: ring{size: c.opts.HistorySize},
	}
}

// run is a region's check loop.
func (c *Checker) run(r *region) {
	defer c.wg.Done()
	defer close(r.done)
	defer r.firstDone()
	timer := time.NewTimer(0) // the first check starts at once
	defer timer.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		res, ok := c.check(r.ctx, r)
		if !ok {
			return
		}
		c.record(r, res)
		timer.Reset(max(0, jittered(r.cfg.interval)-time.Since(start)))
	}
}

// jittered returns d ± 10%.
func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 - jitter + 2*jitter*rand.Float64()))
}

// check runs one check of r once a slot is free. ok is false when ctx
// ended first or during the check: such a check says nothing about the
// region and is not recorded.
func (c *Checker) check(ctx context.Context, r *region) (res Result, ok bool) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return Result{}, false
	}
	defer func() { <-c.sem }()
	tctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	res = r.probe.run(tctx)
	cancel()
	if ctx.Err() != nil {
		return Result{}, false
	}
	res.Time = c.opts.Now()
	return res, true
}

// record files a result in r's history and state machine, logs a state
// change and notifies. It returns false when r is no longer current (the
// result is then dropped).
func (c *Checker) record(r *region, res Result) bool {
	c.mu.Lock()
	if r.ctx.Err() != nil || c.regions[r.target.Region] != r {
		c.mu.Unlock()
		return false
	}
	r.history.add(res)
	st := &r.state
	wasUp, wasChecked, oldLatency := st.Up, st.Checked, st.Latency
	st.LastCheck, st.LastResult = res.Time, res
	if res.OK {
		st.ConsecutiveSuccesses++
		st.ConsecutiveFailures = 0
		if st.Latency == 0 {
			st.Latency = res.Latency
		} else {
			st.Latency = time.Duration(latencyAlpha*float64(res.Latency) + (1-latencyAlpha)*float64(st.Latency))
		}
		st.Latency = max(st.Latency, 1) // 0 means "never measured"
	} else {
		st.ConsecutiveFailures++
		st.ConsecutiveSuccesses = 0
	}
	switch {
	case !st.Checked:
		st.Checked = true
		st.Up = res.OK
		if res.OK {
			st.Reason = "first check succeeded"
		} else {
			st.Reason = "first check failed: " + res.Error
		}
	case st.Up && !res.OK && st.ConsecutiveFailures >= r.cfg.fall:
		st.Up = false
		st.Reason = fmt.Sprintf("%s: %s", count(st.ConsecutiveFailures, "consecutive failure"), res.Error)
	case !st.Up && res.OK && st.ConsecutiveSuccesses >= r.cfg.rise:
		st.Up = true
		st.Reason = count(st.ConsecutiveSuccesses, "consecutive success")
	}
	flipped := st.Up != wasUp || !wasChecked
	if flipped {
		st.Since = res.Time
	}
	reason, latency := st.Reason, st.Latency
	c.mu.Unlock()

	if flipped {
		if res.OK {
			c.opts.Log.Info().Str("region", r.target.Region).Str("endpoint", r.target.Endpoint).
				Str("reason", reason).Dur("latency", res.Latency).Msg("region up")
		} else {
			c.opts.Log.Warn().Str("region", r.target.Region).Str("endpoint", r.target.Endpoint).
				Str("reason", reason).Msg("region down")
		}
	}
	if flipped || latency != oldLatency {
		c.notify()
	}
	// Last, so that WaitFirstRound returns with the first state logged.
	r.firstDone()
	return true
}

// count writes "1 consecutive failure", "3 consecutive failures".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if what[len(what)-1] == 's' {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func (r *region) firstDone() {
	r.firstOnce.Do(func() { close(r.first) })
}

// notify sends a coalesced notification on Changed.
func (c *Checker) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// WaitFirstRound returns once every current target has completed its first
// check (each bounded by its timeout, as first checks start at once), or
// with ctx's error when ctx ends first. Targets removed meanwhile are not
// waited for.
func (c *Checker) WaitFirstRound(ctx context.Context) error {
	c.mu.Lock()
	waits := make([]chan struct{}, 0, len(c.regions))
	for _, r := range c.regions {
		waits = append(waits, r.first)
	}
	c.mu.Unlock()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// CheckNow checks region at once (waiting for a free slot like any check)
// and records the result in its history and state like a scheduled check.
// The check ends at its timeout, when ctx ends or when the region is
// removed, and only a completed check is recorded.
func (c *Checker) CheckNow(ctx context.Context, name string) (Result, error) {
	c.mu.Lock()
	r, stopped := c.regions[name], c.stopped
	c.mu.Unlock()
	switch {
	case stopped:
		return Result{}, ErrStopped
	case r == nil:
		return Result{}, fmt.Errorf("%w %q", ErrUnknownRegion, name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.ctx, cancel)()
	res, ok := c.check(ctx, r)
	if ok && c.record(r, res) {
		return res, nil
	}
	if err := context.Cause(ctx); err != nil && r.ctx.Err() == nil {
		return Result{}, err
	}
	if c.ctx.Err() != nil {
		return Result{}, ErrStopped
	}
	return Result{}, fmt.Errorf("region %q was removed or changed during the check", name)
}

// History returns up to limit of region's latest results, newest first
// (all it keeps when limit <= 0); false for an unknown region.
func (c *Checker) History(name string, limit int) ([]Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.regions[name]
	if r == nil {
		return nil, false
	}
	return r.history.newest(limit), true
}

// States returns a copy of every region's state, with Stale computed now.
func (c *Checker) States() map[string]State {
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]State, len(c.regions))
	for name, r := range c.regions {
		st := r.state
		last := st.LastCheck
		if last.IsZero() {
			last = r.started
		}
		st.Stale = now.Sub(last) > r.cfg.staleAfter
		out[name] = st
	}
	return out
}

// Changed returns the channel notified (coalesced) after state changes,
// latency updates and Syncs that changed the targets.
func (c *Checker) Changed() <-chan struct{} { return c.changed }

// Stop ends every check loop and waits for them. States and History keep
// answering with the last known states (which turn stale in time); Sync
// does nothing after Stop and CheckNow returns ErrStopped.
func (c *Checker) Stop() {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.mu.Lock()
	c.stopped = true
	c.cancel()
	c.mu.Unlock()
	c.wg.Wait()
}

// ring keeps the last size results.
type ring struct {
	size int
	buf  []Result
	next int // where the next result goes once buf is full
}

func (h *ring) add(r Result) {
	if len(h.buf) < h.size {
		h.buf = append(h.buf, r)
		return
	}
	h.buf[h.next] = r
	h.next = (h.next + 1) % h.size
}

// newest returns up to limit results, newest first (all when limit <= 0).
func (h *ring) newest(limit int) []Result {
	n := len(h.buf)
	if limit > 0 && limit < n {
		n = limit
	}
	out := make([]Result, n)
	// The newest result is just before next (buf is in order until full,
	// when next is 0 too).
	last := h.next - 1
	if len(h.buf) < h.size {
		last = len(h.buf) - 1
	}
	for i := range out {
		out[i] = h.buf[(last-i+len(h.buf))%len(h.buf)]
	}
	return out
}
