package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/geo"
)

// reloadLog collects an instance's log lines; the reloader writes from its
// own goroutine.
type reloadLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *reloadLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *reloadLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// staticZone is a zone file with no regions whose www.rl.test. answers addr.
func staticZone(addr string) string {
	return `zone: rl.test.
records: |
  @ SOA ns1 hostmaster 1 7200 1800 259200 60
  @ NS ns1
  ns1 A 192.0.2.53
  www A ` + addr + "\n"
}

// writeAtomic replaces path as editors and config tools do: a hidden
// temporary file renamed over it.
func writeAtomic(t testing.TB, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(data), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// startReloadInstance runs the whole server on a free loopback port over
// zonesDir, with the GeoIP database geoip ("" for none), logging into the
// returned log.
func startReloadInstance(t testing.TB, zonesDir, geoip string) (*instance, *reloadLog) {
	t.Helper()
	out := new(reloadLog)
	s := settings{
		DNSAddrs: []string{"127.0.0.1:0"}, ZonesDir: zonesDir, DataDir: t.TempDir(), GeoIP: geoip,
		NodeID: "test", Strategy: balancer.RoundRobin,
		HealthInterval: time.Second, FailoverEnabled: true, FailoverThreshold: 3,
	}
	in, err := start(context.Background(), s, zerolog.New(out))
	require.NoError(t, err)
	t.Cleanup(func() { in.stop(context.Background()) })
	return in, out
}

// queryA asks for name's A records over UDP and returns the rcode and the
// addresses.
func queryA(c *dns.Client, addr, name string) (int, []string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return 0, nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return r.Rcode, out, nil
}

func wwwAnswer(t testing.TB, in *instance) string {
	t.Helper()
	rcode, addrs, err := queryA(&dns.Client{Timeout: time.Second}, in.dns.Addrs()[0], "www.rl.test.")
	require.NoError(t, err)
	require.Equal(t, dns.RcodeSuccess, rcode)
	return strings.Join(addrs, ",")
}

func TestReloadOnZoneChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rl.test.yaml")
	require.NoError(t, os.WriteFile(path, []byte(staticZone("192.0.2.10")), 0o600))
	in, _ := startReloadInstance(t, dir, "")
	require.Equal(t, "192.0.2.10", wwwAnswer(t, in))

	// An edit in place (fsnotify Write events, debounced).
	require.NoError(t, os.WriteFile(path, []byte(staticZone("192.0.2.11")), 0o600))
	require.Eventually(t, func() bool { return wwwAnswer(t, in) == "192.0.2.11" }, 5*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return in.reloader.Stats.ZoneSuccess.Load() >= 1 }, 5*time.Second, 10*time.Millisecond)
	require.False(t, in.reloader.Stats.LastSuccess().IsZero())
	require.Zero(t, in.reloader.Stats.ZoneFailure.Load())

	// Files that are not zone files do not reload.
	before := in.reloader.Stats.ZoneSuccess.Load()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".rl.test.yaml.swp"), []byte("x"), 0o600))
	time.Sleep(3 * reloadDebounce)
	require.Equal(t, before, in.reloader.Stats.ZoneSuccess.Load())

	// A real SIGHUP reloads too.
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return in.reloader.Stats.ZoneSuccess.Load() > before }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "192.0.2.11", wwwAnswer(t, in))
}

func TestReloadInvalidKeepsOldZones(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rl.test.yaml")
	require.NoError(t, os.WriteFile(path, []byte(staticZone("192.0.2.10")), 0o600))
	in, out := startReloadInstance(t, dir, "")

	writeAtomic(t, path, staticZone("not-an-address"))
	require.Eventually(t, func() bool { return in.reloader.Stats.ZoneFailure.Load() >= 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "192.0.2.10", wwwAnswer(t, in), "the previous zones stay in force")
	require.Zero(t, in.reloader.Stats.ZoneSuccess.Load())

	// The method (the SIGHUP path) reports the error as well.
	err := in.reloader.ReloadZones("test")
	require.Error(t, err)
	require.Contains(t, err.Error(), path+":6:")
	require.GreaterOrEqual(t, in.reloader.Stats.ZoneFailure.Load(), uint64(2))
	logged := out.String()
	require.Contains(t, logged, `"level":"error"`)
	require.Contains(t, logged, `"file":"`+path+`"`)
	require.Contains(t, logged, `"line":6`)
	require.Contains(t, logged, "zone reload failed")

	// Fixed: served again.
	writeAtomic(t, path, staticZone("192.0.2.12"))
	require.Eventually(t, func() bool { return wwwAnswer(t, in) == "192.0.2.12" }, 5*time.Second, 20*time.Millisecond)
}

func TestReloadLoopNoQueryFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rl.test.yaml")
	versions := []string{staticZone("192.0.2.21"), staticZone("192.0.2.22")}
	require.NoError(t, os.WriteFile(path, []byte(versions[0]), 0o600))
	in, _ := startReloadInstance(t, dir, "")
	addr := in.dns.Addrs()[0]

	var writing atomic.Bool
	writing.Store(true)
	writerErr := make(chan error, 1)
	go func() {
		defer writing.Store(false)
		for i := range 50 {
			tmp := filepath.Join(dir, ".rl.test.yaml.tmp")
			if err := os.WriteFile(tmp, []byte(versions[i%2]), 0o600); err != nil {
				writerErr <- err
				return
			}
			if err := os.Rename(tmp, path); err != nil {
				writerErr <- err
				return
			}
			if i%3 != 2 { // SIGHUP-equivalent; fsnotify reloads as well
				if err := in.reloader.ReloadZones("test"); err != nil {
					writerErr <- err
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Let the last fsnotify reload land while queries go on.
		time.Sleep(3 * reloadDebounce)
		writerErr <- nil
	}()

	c := &dns.Client{Timeout: 2 * time.Second}
	seen := map[string]int{}
	n := 0
	deadline := time.Now().Add(60 * time.Second)
	for (n < 2000 || writing.Load()) && time.Now().Before(deadline) {
		rcode, addrs, err := queryA(c, addr, "www.rl.test.")
		require.NoError(t, err, "query %d", n)
		require.Equal(t, dns.RcodeSuccess, rcode, "query %d", n)
		got := strings.Join(addrs, ",")
		require.Contains(t, []string{"192.0.2.21", "192.0.2.22"}, got, "query %d", n)
		seen[got]++
		n++
	}
	require.NoError(t, <-writerErr)
	require.GreaterOrEqual(t, n, 2000)
	require.Zero(t, in.reloader.Stats.ZoneFailure.Load())
	require.GreaterOrEqual(t, in.reloader.Stats.ZoneSuccess.Load(), uint64(34))
	require.Len(t, seen, 2, "both versions were served: %v", seen)
	t.Logf("%d queries, %d reloads, answers %v", n, in.reloader.Stats.ZoneSuccess.Load(), seen)
}

func TestReloadKeepsRuntimeState(t *testing.T) {
	a, b := newTarget(t), newTarget(t)
	dir := failoverZone(t, a, b)
	in, _ := startReloadInstance(t, dir, "")
	require.Equal(t, both, answers(t, in))
	_, err := in.ctl.TriggerFailover("a", "b", "maintenance")
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.2"}, answers(t, in))

	path := filepath.Join(dir, "lb.test.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	edited := strings.Replace(string(data), "  ns1 A 192.0.2.53\n", "  ns1 A 192.0.2.53\n  www A 192.0.2.99\n", 1)
	require.NotEqual(t, string(data), edited)
	writeAtomic(t, path, edited)

	require.Eventually(t, func() bool {
		rcode, addrs, err := queryA(&dns.Client{Timeout: time.Second}, in.dns.Addrs()[0], "www.lb.test.")
		return err == nil && rcode == dns.RcodeSuccess && fmt.Sprint(addrs) == "[192.0.2.99]"
	}, 5*time.Second, 20*time.Millisecond, "the edit is served")
	require.Contains(t, in.store.Load().Failovers, "a", "the manual failover survives the reload")
	require.Contains(t, in.ctl.Runtime().Failovers, "a")
	require.Equal(t, []string{"192.0.2.2"}, answers(t, in))
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, data, 0o600))
}

func geoType(in *instance) string {
	c, _ := in.store.Load().Geo.(*geo.Cache)
	if c == nil {
		return ""
	}
	return c.Locator().(*geo.DB).Info().Type
}

func TestReloadGeoIPOnReplace(t *testing.T) {
	zonesDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(zonesDir, "rl.test.yaml"), []byte(staticZone("192.0.2.10")), 0o600))
	geoDir := t.TempDir()
	path := filepath.Join(geoDir, "GeoLite2.mmdb")
	copyFile(t, "../testdata/geoip-city.mmdb", path)
	in, out := startReloadInstance(t, zonesDir, path)
	require.Contains(t, geoType(in), "City")

	// As geoipupdate does: write a temporary file, rename it over.
	tmp := filepath.Join(geoDir, "GeoLite2.mmdb.tmp")
	copyFile(t, "../testdata/geoip-country.mmdb", tmp)
	require.NoError(t, os.Rename(tmp, path))
	require.Eventually(t, func() bool { return in.reloader.Stats.GeoSuccess.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Contains(t, geoType(in), "Country")
	require.Contains(t, out.String(), "GeoIP database reloaded")
	require.Equal(t, "192.0.2.10", wwwAnswer(t, in))

	// A broken file keeps the database in force.
	require.NoError(t, os.WriteFile(tmp, []byte("not a database"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	require.Eventually(t, func() bool { return in.reloader.Stats.GeoFailure.Load() >= 1 }, 5*time.Second, 10*time.Millisecond)
	require.Contains(t, geoType(in), "Country")
	require.Equal(t, uint64(1), in.reloader.Stats.GeoSuccess.Load())
	require.Equal(t, "192.0.2.10", wwwAnswer(t, in))
	require.Zero(t, in.reloader.Stats.ZoneSuccess.Load(), "the zones are not reloaded for the database")
}
