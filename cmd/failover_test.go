package cmd

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/balancer"
)

// target is a health-check endpoint whose answers a test controls.
type target struct {
	srv    *httptest.Server
	status atomic.Int32 // 0 means 200
	flap   atomic.Bool  // alternate 200 and 500 on every check
	hits   atomic.Int64
}

func newTarget(t testing.TB) *target {
	tg := &target{}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := tg.hits.Add(1)
		switch {
		case tg.flap.Load() && n%2 == 0:
			w.WriteHeader(http.StatusInternalServerError)
		case tg.status.Load() != 0:
			w.WriteHeader(int(tg.status.Load()))
		}
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// failoverZone writes a zone whose regions a and b are checked every 50ms
// against the given targets (fall 3, rise 2) and returns its directory.
func failoverZone(t testing.TB, a, b *target) string {
	return failoverZoneEvery(t, a, b, "50ms", "40ms")
}

func failoverZoneEvery(t testing.TB, a, b *target, interval, timeout string) string {
	dir := t.TempDir()
	zone := fmt.Sprintf(`zone: lb.test.
records: |
  @ SOA ns1 hostmaster 1 7200 1800 259200 60
  @ NS ns1
  ns1 A 192.0.2.53
regions:
  a:
    endpoint: %[1]s
    addresses: [192.0.2.1]
    check: {interval: %[3]s, timeout: %[4]s, fall: 3, rise: 2}
  b:
    endpoint: %[2]s
    addresses: [192.0.2.2]
    check: {interval: %[3]s, timeout: %[4]s, fall: 3, rise: 2}
services:
  both:
    strategy: round_robin
    answers: 2
`, a.srv.URL, b.srv.URL, interval, timeout)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lb.test.yaml"), []byte(zone), 0o600))
	return dir
}

// startInstance runs the whole server as `geodns serve` would, on a free
// loopback port.
func startInstance(t testing.TB, zonesDir, dataDir string) *instance {
	t.Helper()
	s := settings{
		DNSAddrs: []string{"127.0.0.1:0"}, ZonesDir: zonesDir, DataDir: dataDir,
		NodeID: "test", Strategy: balancer.RoundRobin,
		HealthInterval: time.Second, FailoverEnabled: true, FailoverThreshold: 3,
	}
	in, err := start(context.Background(), s, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { in.stop(context.Background()) })
	return in
}

// answers returns the sorted addresses of one answer for both.lb.test.
func answers(t testing.TB, in *instance) []string {
	t.Helper()
	out, err := tryAnswers(in)
	require.NoError(t, err)
	return out
}

// tryAnswers is answers for polling conditions (Eventually, Never), which
// run in goroutines that may outlive the test and so must not fail it.
func tryAnswers(in *instance) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion("both.lb.test.", dns.TypeA)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, in.dns.Addrs()[0])
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		out = append(out, rr.(*dns.A).A.String())
	}
	sort.Strings(out)
	return out, nil
}

var both = []string{"192.0.2.1", "192.0.2.2"}

func eventuallyAnswers(t *testing.T, in *instance, want []string, msg string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got, err := tryAnswers(in)
		return err == nil && fmt.Sprint(got) == fmt.Sprint(want)
	}, 5*time.Second, 10*time.Millisecond, msg)
}

func TestFailoverFollowsHealth(t *testing.T) {
	a, b := newTarget(t), newTarget(t)
	in := startInstance(t, failoverZone(t, a, b), t.TempDir())
	require.Equal(t, both, answers(t, in), "first round done before DNS answers: both up")

	a.status.Store(http.StatusInternalServerError)
	failingFrom := a.hits.Load()
	eventuallyAnswers(t, in, []string{"192.0.2.2"}, "a leaves the answers")
	require.GreaterOrEqual(t, a.hits.Load()-failingFrom, int64(3), "not before 3 failed checks")
	st := in.checker.States()["a"]
	require.False(t, st.Up)
	require.Contains(t, st.Reason, "3 consecutive failures")

	a.status.Store(0)
	recovering := a.hits.Load()
	eventuallyAnswers(t, in, both, "a comes back")
	require.GreaterOrEqual(t, a.hits.Load()-recovering, int64(2), "not before 2 good checks")
}

func TestFlappingDoesNotFlipAnswers(t *testing.T) {
	a, b := newTarget(t), newTarget(t)
	in := startInstance(t, failoverZone(t, a, b), t.TempDir())
	a.flap.Store(true)
	start := a.hits.Load()
	for a.hits.Load()-start < 12 {
		require.Equal(t, both, answers(t, in), "a flapping region stays in (fall 3, rise 2)")
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAllDownFailsOpen(t *testing.T) {
	a, b := newTarget(t), newTarget(t)
	in := startInstance(t, failoverZone(t, a, b), t.TempDir())
	a.status.Store(http.StatusServiceUnavailable)
	b.status.Store(http.StatusServiceUnavailable)
	require.Eventually(t, func() bool {
		st := in.checker.States()
		return !st["a"].Up && !st["b"].Up && len(in.store.Load().Health) == 2 &&
			in.store.Load().Health["a"].Down && in.store.Load().Health["b"].Down
	}, 5*time.Second, 10*time.Millisecond)
	failOpens := in.store.Stats().FailOpen.Load()
	require.Equal(t, both, answers(t, in), "every region down: answer as if all were up")
	require.Equal(t, failOpens+1, in.store.Stats().FailOpen.Load(), "fail-open answers are counted")
	require.Equal(t, []string{"both.lb.test."}, in.store.Load().AllDown())
}

func TestManualFailoverDrainAndRestart(t *testing.T) {
	a, b := newTarget(t), newTarget(t)
	zonesDir, dataDir := failoverZone(t, a, b), t.TempDir()
	in := startInstance(t, zonesDir, dataDir)

	_, err := in.ctl.TriggerFailover("a", "b", "maintenance")
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.2"}, answers(t, in), "a's clients go to b while a is healthy")
	manual, _ := in.ctl.FailoverStatus()
	require.Len(t, manual, 1)
	require.Equal(t, "maintenance", manual[0].Reason)

	require.NoError(t, in.ctl.ClearFailover("a"))
	require.Equal(t, both, answers(t, in))

	require.NoError(t, in.ctl.SetAdmin("b", balancer.ForceDown))
	require.Equal(t, []string{"192.0.2.1"}, answers(t, in), "drained")
	_, err = in.ctl.TriggerFailover("a", "b", "after drain")
	require.NoError(t, err)

	// A restart keeps the failover and the drain.
	require.NoError(t, in.stop(context.Background()))
	again := startInstance(t, zonesDir, dataDir)
	require.Equal(t, []string{"192.0.2.2"}, answers(t, again), "manual failover survives the restart, whatever b's admin state")
	manual, auto := again.ctl.FailoverStatus()
	require.Equal(t, "after drain", manual[0].Reason)
	require.Equal(t, "b", auto[0].Region)

	require.NoError(t, again.ctl.ClearFailover("a"))
	require.NoError(t, again.ctl.SetAdmin("b", balancer.ForceUp))
	b.status.Store(http.StatusInternalServerError)
	require.Never(t, func() bool {
		got, err := tryAnswers(again)
		return err != nil || fmt.Sprint(got) != fmt.Sprint(both)
	}, 400*time.Millisecond, 20*time.Millisecond,
		"force-up keeps b in the answers whatever its checks say")
}

// BenchmarkFailoverReaction measures, with a 1s interval and threshold 3,
// the time from a target stopping to the first DNS answer without it.
// Each iteration takes about interval x threshold: run with -benchtime=1x.
func BenchmarkFailoverReaction(b *testing.B) {
	var total time.Duration
	for range b.N {
		ta, tb := newTarget(b), newTarget(b)
		in := startInstance(b, failoverZoneEvery(b, ta, tb, "1s", "500ms"), b.TempDir())
		stopped := time.Now()
		ta.srv.CloseClientConnections()
		ta.srv.Listener.Close()
		deadline := stopped.Add(10 * time.Second)
		for fmt.Sprint(answers(b, in)) != "[192.0.2.2]" {
			if time.Now().After(deadline) {
				b.Fatal("region a never left the answers")
			}
			time.Sleep(5 * time.Millisecond)
		}
		total += time.Since(stopped)
		require.NoError(b, in.stop(context.Background()))
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/failover")
}
