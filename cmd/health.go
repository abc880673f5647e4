package cmd

import (
	"context"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/health"
	"github.com/geodns/geodns/zones"
)

// firstRoundLimit bounds how long start-up waits for the first health
// checks; each check is already cut at its own timeout.
const firstRoundLimit = 30 * time.Second

// publishPause is the least time between two health snapshots.
const publishPause = 200 * time.Millisecond

// startHealth starts checking every region, waits for the first round so
// that DNS never answers with a guess, and publishes every change of
// health into the snapshot from then on.
func startHealth(ctx context.Context, s settings, store *balancer.Store, ctl *balancer.Control, log zerolog.Logger) *health.Checker {
	checker := health.New(health.Options{
		Interval:   s.HealthInterval,
		Fall:       s.FailoverThreshold,
		StaleAfter: s.StaleAfter,
		Log:        log,
	})
	checker.Sync(targets(store.Load().Zones))
	start := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, firstRoundLimit)
	err := checker.WaitFirstRound(waitCtx)
	cancel()
	publish := healthPublisher(store, ctl, log)
	publish(checker.States())
	ev := log.Info()
	if err != nil {
		ev = log.Warn().Err(err)
	}
	ev.Dur("took", time.Since(start)).Int("regions", len(checker.States())).Msg("first health check round done")
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-checker.Changed():
				publish(checker.States())
			}
			// Latency moves on nearly every check; rebuilding the snapshot
			// at most this often keeps a thousand regions cheap while a
			// state flip still reaches answers within the pause.
			select {
			case <-ctx.Done():
				return
			case <-time.After(publishPause):
			}
		}
	}()
	return checker
}

// healthPublisher returns the function that publishes checker states into
// the snapshot, logging once when a service's regions are all down (its
// answers fail open or use its backup) and once when that ends.
func healthPublisher(store *balancer.Store, ctl *balancer.Control, log zerolog.Logger) func(map[string]health.State) {
	var allDown []string
	return func(states map[string]health.State) {
		ctl.SetHealth(healthView(states))
		now := store.Load().AllDown()
		for _, svc := range now {
			if !slices.Contains(allDown, svc) {
				log.Error().Str("service", svc).Msg("every region of the service is down: answers fail open (or use the backup region)")
			}
		}
		for _, svc := range allDown {
			if !slices.Contains(now, svc) {
				log.Info().Str("service", svc).Msg("a region of the service is up again: answers leave out down regions")
			}
		}
		allDown = now
	}
}

// targets lists what to check: every region of the set.
func targets(set *zones.Set) []health.Target {
	out := make([]health.Target, 0, len(set.RegionNames))
	for _, name := range set.RegionNames {
		r := set.Regions[name]
		out = append(out, health.Target{Region: r.Name, Endpoint: r.Endpoint, Check: r.Check})
	}
	return out
}

// healthView turns checker states into the balancer's view. A region not
// yet checked stays out of the view, which means healthy.
func healthView(states map[string]health.State) balancer.HealthView {
	view := make(balancer.HealthView, len(states))
	for name, st := range states {
		if !st.Checked {
			continue
		}
		view[name] = balancer.RegionHealth{Down: !st.Up, Latency: st.Latency, Reason: st.Reason, Since: st.Since, Stale: st.Stale}
	}
	return view
}
