package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/api"
)

// TestStatusPage: the embedded page and its files, with their content
// types, caching and security headers.
func TestStatusPage(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script src="/status/status.js" defer></script>`},
		{"/?refresh=500", "text/html; charset=utf-8", `<table id="regions">`},
		{"/status/status.js", "text/javascript; charset=utf-8", "/api/v1/lb/status"},
		{"/status/status.css", "text/css; charset=utf-8", "tr.state-down"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res := e.callWith(http.MethodGet, tc.path, "", "")
			require.Equal(t, http.StatusOK, res.Status, string(res.Body))
			require.Equal(t, tc.contentType, res.Header.Get("Content-Type"))
			require.Contains(t, string(res.Body), tc.contains)
			require.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
			require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			require.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
			etag := res.Header.Get("ETag")
			require.NotEmpty(t, etag)

			req, err := http.NewRequest(http.MethodGet, e.url+tc.path, nil)
			require.NoError(t, err)
			req.Header.Set("If-None-Match", etag)
			again, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			again.Body.Close()
			require.Equal(t, http.StatusNotModified, again.StatusCode, "a revalidation with the same ETag")
		})
	}
	require.Equal(t, http.StatusNotFound, e.callWith(http.MethodGet, "/status/missing.js", "", "").Status)
}

// TestStatusPageAuthAll: with --api-auth-all the page still loads without
// a token (its script asks for one), but the data it reads does not.
func TestStatusPageAuthAll(t *testing.T) {
	e := newEnv(t, func(o *api.Options) {
		o.AuthAll = true
		o.Queries = func() uint64 { return 7 }
	})
	for _, path := range []string{"/", "/status/status.js", "/status/status.css"} {
		require.Equal(t, http.StatusOK, e.callWith(http.MethodGet, path, "", "").Status, path)
	}
	require.Equal(t, http.StatusUnauthorized, e.callWith(http.MethodGet, "/api/v1/stats", "", "").Status)
	require.Equal(t, http.StatusUnauthorized, e.callWith(http.MethodGet, "/api/v1/lb/status", "", "").Status)
	require.Equal(t, http.StatusOK, e.callWith(http.MethodGet, "/api/v1/stats", "", testToken).Status)
	// Only reads of the page's files are open: a change is still checked.
	require.Equal(t, http.StatusUnauthorized, e.callWith(http.MethodPost, "/", "{}", "").Status)
}

type statsAnswer struct {
	QueriesTotal *uint64   `json:"queries_total"`
	Time         time.Time `json:"time"`
}

func (e *env) stats(t *testing.T) statsAnswer {
	t.Helper()
	res := e.callWith(http.MethodGet, "/api/v1/stats", "", "")
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	require.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "application/json"))
	var st statsAnswer
	require.NoError(t, json.Unmarshal(res.Body, &st), string(res.Body))
	require.NotNil(t, st.QueriesTotal, string(res.Body))
	return st
}

// TestStats: GET /api/v1/stats answers the counter of Options.Queries and
// the time it was read.
func TestStats(t *testing.T) {
	var n atomic.Uint64
	n.Store(41)
	e := newEnv(t, func(o *api.Options) { o.Queries = n.Load })
	before := time.Now()
	st := e.stats(t)
	require.Equal(t, uint64(41), *st.QueriesTotal)
	require.WithinDuration(t, before, st.Time, 5*time.Second)
	n.Add(1000)
	next := e.stats(t)
	require.Equal(t, uint64(1041), *next.QueriesTotal)
	require.False(t, next.Time.Before(st.Time))
}

// TestStatsCountsDNSQueries wires the counter to the DNS server's
// metrics, as geodns serve does.
func TestStatsCountsDNSQueries(t *testing.T) {
	var e *env
	e = newEnv(t, func(o *api.Options) { o.Queries = func() uint64 { return e.dns.Metrics().Total() } })
	require.Equal(t, uint64(0), *e.stats(t).QueriesTotal)
	for range 5 {
		e.query("www.example.test", "")
	}
	// A query is counted once its answer is sent, so just after the client
	// has it.
	require.Eventually(t, func() bool { return *e.stats(t).QueriesTotal == 5 }, waitFor, tick)
}

// TestStatsWithoutCounter: a server without a DNS query counter says so.
func TestStatsWithoutCounter(t *testing.T) {
	e := newEnv(t, nil)
	res := e.callWith(http.MethodGet, "/api/v1/stats", "", "")
	require.Equal(t, http.StatusServiceUnavailable, res.Status, string(res.Body))
	msg, _ := res.apiError(t)
	require.Contains(t, msg, "not available")
}
