// Package health checks the regions a GeoDNS server balances over and
// decides which are up.
//
// A Checker runs one check loop per region (a Target: the region's name,
// its endpoint URL and the zone file's check settings), keeps each region's
// state and recent results, and tells its owner when something the answers
// depend on changed. It is an HTTP client and nothing else: it knows
// nothing of DNS, snapshots or the REST API, which read it through States,
// History and Changed.
//
//	c := health.New(health.Options{Interval: 30 * time.Second, Fall: 3, Log: log})
//	defer c.Stop()
//	c.Sync(targets)                   // again after every zone reload
//	_ = c.WaitFirstRound(ctx)         // before serving: no region is guessed
//	go func() {
//		for range c.Changed() {
//			publish(c.States())       // rebuild the DNS snapshot off the check path
//		}
//	}()
//
// # Checks
//
// The kind of check is the zone file's check kind, or else the endpoint's
// scheme:
//
//   - http and https: a GET of the endpoint URL (or of its scheme, host and
//     port with the check's path). The check succeeds when the status is
//     in the expected range (200-399 unless the check says otherwise) and,
//     when the check names a body substring, the first 64 KiB of the body
//     contain it. Redirects are not followed: a 3xx status is judged by the
//     range like any other. https verifies the certificate against the
//     system's roots, or the check's CA file (read at every check, so a
//     rotated bundle is picked up; a missing or bad file fails the check
//     and says why), for the endpoint's host or the check's server name.
//     The check's Host header override is sent as is. Proxies from the
//     environment are not used, and every check opens a new connection
//     (see Reachability).
//   - tcp: a TCP connection to the endpoint's host and port, closed at once.
//     A tcp check of an http or https endpoint connects to its port, 80 or
//     443 when the URL has none.
//
// A check lasts at most its timeout: the check's own, else a third of the
// interval capped at 5s. A check that times out fails with "timed out
// after ...". Latency is the time to the response headers (http, https)
// or to the established connection (tcp); State.Latency smooths the
// latency of successful checks (exponentially weighted moving average,
// alpha 0.3) for the least_latency strategy.
//
// A target the checker cannot use (an unparsable endpoint, a kind that
// does not fit it) is not refused: each of its checks fails with the
// reason, so the region shows up as down and says why.
//
// # Reachability
//
// Keep-alives are disabled and each check dials afresh. A pooled
// connection would make a check measure an old socket: it would miss a
// region whose listener or network path died while the connection stayed
// open (and hide DNS, connect and TLS handshake problems), and latency
// would no longer include connection set-up, which a real client pays.
//
// # State
//
// A region starts up but unchecked (Checked false). Its first completed
// check decides its state directly: a region that fails it is down at
// once, one that passes is up. A restart therefore never answers with a
// dead region for Fall intervals, nor drops a live one. After that the
// state has hysteresis: an up region goes down after Fall consecutive
// failures (the check's fall, else Options.Fall, the server's
// FAILOVER_THRESHOLD), and a down region comes back after Rise consecutive
// successes (the check's rise, else Options.Rise). An endpoint that
// alternates between success and failure therefore keeps its state. Each
// change is logged once, "region down" at warn level and "region up" at
// info level, with the region, its endpoint and the reason (e.g. "3
// consecutive failures: GET https://us.example.com/healthz: status 500
// (want 200-399)").
//
// Each region keeps its last Options.HistorySize results (a ring buffer),
// newest first from History.
//
// Stale state. A region whose last completed check is older than
// Options.StaleAfter (default three of its intervals) is reported with
// State.Stale set. Its state is not changed: when the checker stalls (an
// overloaded host, a semaphore starved by hanging endpoints, a stopped
// checker) the answers keep the last known state rather than flapping,
// and the API and metrics report the staleness so an operator notices.
//
// # Scheduling
//
// Each region has its own goroutine. The first check starts at once (so
// WaitFirstRound waits for one check time, not one interval), later ones
// every interval ± 10% of random jitter measured from the start of the
// previous check, which spreads regions that share an interval. A
// semaphore bounds the checks in flight across all regions
// (Options.Concurrency); a slow endpoint holds its slot only until its
// timeout and never delays the schedule of another region.
//
// Sync replaces the set of targets: new regions start, removed ones stop
// at once (an in-flight check is cancelled and its result dropped), and a
// region whose endpoint or check settings changed restarts with a fresh
// state; an unchanged region keeps its loop, state and history, so
// calling Sync after every reload never doubles the checks. CheckNow runs
// an extra check on demand that counts like a scheduled one.
//
// Changed delivers a coalesced notification (a channel of capacity one
// that is never blocked on) after a state change, a latency update or a
// Sync that changed the targets; the receiver reads States and rebuilds
// whatever depends on them, outside the check loops.
//
// All methods are safe for concurrent use. One mutex guards the states:
// the checker is not on the DNS query path, which reads snapshots built
// from States.
package health
