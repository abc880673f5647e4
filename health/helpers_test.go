package health

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/zones"
)

// Polling bounds: generous limits, short ticks.
const (
	waitFor = 5 * time.Second
	tick    = 2 * time.Millisecond
)

// server is an HTTP endpoint whose status the test switches and whose hits
// it counts.
type server struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int64
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{}
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.WriteHeader(int(s.status.Load()))
		io.WriteString(w, "all ok")
	}))
	t.Cleanup(s.Close)
	return s
}

// hangingServer answers nothing until the test ends (or the client gives
// up); it counts the requests it got.
func hangingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	release := make(chan struct{})
	var hits atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(s.Close)                   // runs second: no request is left
	t.Cleanup(func() { close(release) }) // runs first
	return s, &hits
}

// deadAddr returns a local address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// logBuffer collects log lines; safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log lines whose message is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// start returns a checker stopped when the test ends, logging into the
// returned buffer, checking targets.
func start(t *testing.T, opts Options, targets ...Target) (*Checker, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts.Log = zerolog.New(logs).Level(zerolog.DebugLevel)
	c := New(opts)
	t.Cleanup(c.Stop)
	c.Sync(targets)
	return c, logs
}

// target checks url for region name with the given check settings.
func target(name, url string, check zones.HealthCheck) Target {
	return Target{Region: name, Endpoint: url, Check: check}
}

// slow is a check that only runs when asked (CheckNow), after the first.
var slow = zones.HealthCheck{Interval: time.Hour, Timeout: 5 * time.Second}

func state(c *Checker, region string) State { return c.States()[region] }

func waitFirst(t *testing.T, c *Checker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, c.WaitFirstRound(ctx))
}

func checkNow(t *testing.T, c *Checker, region string) Result {
	t.Helper()
	res, err := c.CheckNow(context.Background(), region)
	require.NoError(t, err)
	return res
}

func zeroLog() zerolog.Logger { return zerolog.Nop() }

// drain empties the Changed channel.
func drain(c *Checker) {
	select {
	case <-c.Changed():
	default:
	}
}
