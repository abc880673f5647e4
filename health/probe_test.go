package health

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/zones"
)

// runProbe runs one check of t with a 5s timeout.
func runProbe(t *testing.T, tg Target) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return newProbe(tg, 5*time.Second).run(ctx)
}

func TestHTTPProbe(t *testing.T) {
	var redirected atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "status: ready") })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", http.StatusInternalServerError) })
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { redirected.Add(1) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", maxBody)+"ready")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		// Every check opens a fresh connection: the client asks to close.
		if !r.Close || r.Header.Get("User-Agent") != userAgent {
			http.Error(w, "keep-alive or user agent", http.StatusBadRequest)
			return
		}
		io.WriteString(w, r.Host+" "+r.URL.RequestURI())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	tests := []struct {
		name     string
		endpoint string
		check    zones.HealthCheck
		ok       bool
		status   int
		err      string // exact, with URL standing for the server's URL
	}{
		{name: "200", endpoint: "/ok", ok: true, status: 200},
		{name: "500", endpoint: "/fail", status: 500, err: "GET URL/fail: status 500 (want 200-399)"},
		{name: "404", endpoint: "/missing", status: 404, err: "GET URL/missing: status 404 (want 200-399)"},
		{name: "redirect not followed, 3xx passes the default range", endpoint: "/redirect", ok: true, status: 302},
		{name: "redirect outside the range", endpoint: "/redirect", check: zones.HealthCheck{StatusMin: 200, StatusMax: 299}, status: 302,
			err: "GET URL/redirect: status 302 (want 200-299)"},
		{name: "single expected status", endpoint: "/empty", check: zones.HealthCheck{StatusMin: 204, StatusMax: 204}, ok: true, status: 204},
		{name: "single expected status missed", endpoint: "/ok", check: zones.HealthCheck{StatusMin: 204, StatusMax: 204}, status: 200,
			err: "GET URL/ok: status 200 (want 204-204)"},
		{name: "expected 500", endpoint: "/fail", check: zones.HealthCheck{StatusMin: 500, StatusMax: 599}, ok: true, status: 500},
		{name: "body contains", endpoint: "/ok", check: zones.HealthCheck{Body: "ready"}, ok: true, status: 200},
		{name: "body does not contain", endpoint: "/ok", check: zones.HealthCheck{Body: "healthy"}, status: 200,
			err: `GET URL/ok: the body (first 13 bytes) does not contain "healthy"`},
		{name: "body beyond 64 KiB", endpoint: "/big", check: zones.HealthCheck{Body: "ready"}, status: 200,
			err: `GET URL/big: the body (first 65536 bytes) does not contain "ready"`},
		{name: "path replaces the endpoint's", endpoint: "/base/x?y=1#frag", check: zones.HealthCheck{Path: "/echo?deep=1", Body: host + " /echo?deep=1"}, ok: true, status: 200},
		{name: "host header", endpoint: "/echo", check: zones.HealthCheck{Host: "api.example.com:8443", Body: "api.example.com:8443 /echo"}, ok: true, status: 200},
		{name: "kind http written", endpoint: "/ok", check: zones.HealthCheck{Kind: "http"}, ok: true, status: 200},
		{name: "kind tcp of an http endpoint", endpoint: "/fail", check: zones.HealthCheck{Kind: "tcp"}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redirected.Store(0)
			res := runProbe(t, target("r", srv.URL+tt.endpoint, tt.check))
			require.Equal(t, tt.ok, res.OK, res.Error)
			require.Equal(t, tt.status, res.Status)
			require.Equal(t, strings.ReplaceAll(tt.err, "URL", srv.URL), res.Error)
			require.Positive(t, res.Latency)
			require.Zero(t, redirected.Load(), "a redirect was followed")
		})
	}
}

func TestProbeFailures(t *testing.T) {
	dead := deadAddr(t)
	tests := []struct {
		name   string
		target Target
		err    string
	}{
		{"connection refused", target("r", "http://"+dead+"/healthz", zones.HealthCheck{}),
			"GET http://" + dead + "/healthz: dial tcp " + dead + ": connect: connection refused"},
		{"tcp connection refused", target("r", "tcp://"+dead, zones.HealthCheck{}),
			"connect to " + dead + ": connection refused"},
		{"password redacted", target("r", "http://user:secret@"+dead, zones.HealthCheck{}),
			"GET http://user:xxxxx@" + dead + ": dial tcp " + dead + ": connect: connection refused"},
		{"not a URL", target("r", "us.example.com", zones.HealthCheck{}),
			`invalid endpoint "us.example.com": not an absolute URL with a host`},
		{"kind against the scheme", target("r", "http://"+dead, zones.HealthCheck{Kind: "https"}),
			"check kind https does not fit the endpoint http://" + dead},
		{"tcp endpoint checked over http", target("r", "tcp://"+dead, zones.HealthCheck{Kind: "http"}),
			"check kind http does not fit the endpoint tcp://" + dead},
		{"unknown scheme", target("r", "ftp://"+dead, zones.HealthCheck{}),
			"cannot check endpoint ftp://" + dead + `: unknown check kind "ftp"`},
		{"tcp check of a URL without a port", target("r", "ftp://example.com", zones.HealthCheck{Kind: "tcp"}),
			`invalid endpoint "ftp://example.com": a tcp check needs a port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, tt.target)
			require.False(t, res.OK)
			require.Equal(t, tt.err, res.Error)
		})
	}
}

func TestTCPProbeDefaultPorts(t *testing.T) {
	for endpoint, addr := range map[string]string{
		"http://us.example.com/x":      "us.example.com:80",
		"https://us.example.com":       "us.example.com:443",
		"https://[2001:db8::1]:8443/x": "[2001:db8::1]:8443",
		"tcp://192.0.2.1:5432":         "192.0.2.1:5432",
	} {
		p := newProbe(target("r", endpoint, zones.HealthCheck{Kind: "tcp"}), time.Second)
		require.IsType(t, &tcpProbe{}, p, endpoint)
		require.Equal(t, addr, p.(*tcpProbe).addr, endpoint)
	}
}

func TestProbeTimeout(t *testing.T) {
	hang, _ := hangingServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	for _, tg := range []Target{
		target("r", hang.URL, zones.HealthCheck{}),
		target("r", hang.URL, zones.HealthCheck{Body: "x"}),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		began := time.Now()
		res := newProbe(tg, 100*time.Millisecond).run(ctx)
		cancel()
		require.Less(t, time.Since(began), 2*time.Second)
		require.False(t, res.OK)
		require.Equal(t, "GET "+hang.URL+": timed out after 100ms", res.Error)
		require.GreaterOrEqual(t, res.Latency, 100*time.Millisecond)
	}
}

// writeCert writes the server's certificate as a PEM CA file.
func writeCert(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func TestHTTPS(t *testing.T) {
	var sni atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni.Store(r.TLS.ServerName)
		io.WriteString(w, "secure")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := writeCert(t, srv)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a certificate"), 0o600))

	tests := []struct {
		name  string
		check zones.HealthCheck
		err   string // substring; "" = success
		sni   string
	}{
		{name: "system roots do not know the test CA", err: "GET " + srv.URL + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "CA file", check: zones.HealthCheck{CAFile: ca, Body: "secure"}},
		{name: "server name in the certificate", check: zones.HealthCheck{CAFile: ca, ServerName: "example.com"}, sni: "example.com"},
		{name: "server name not in the certificate", check: zones.HealthCheck{CAFile: ca, ServerName: "other.test"},
			err: "GET " + srv.URL + ": tls: failed to verify certificate: x509: certificate is valid for example.com, *.example.com, not other.test"},
		{name: "missing CA file", check: zones.HealthCheck{CAFile: filepath.Join(dir, "nope.pem")},
			err: "GET " + srv.URL + ": reading the CA file: open " + filepath.Join(dir, "nope.pem") + ": no such file or directory"},
		{name: "CA file without certificates", check: zones.HealthCheck{CAFile: garbage},
			err: "GET " + srv.URL + ": the CA file " + garbage + " holds no PEM certificate"},
		{name: "tcp check of an https endpoint ignores TLS", check: zones.HealthCheck{Kind: "tcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sni.Store("")
			res := runProbe(t, target("r", srv.URL, tt.check))
			if tt.err != "" {
				require.False(t, res.OK)
				require.Equal(t, tt.err, res.Error)
				return
			}
			require.True(t, res.OK, res.Error)
			require.Equal(t, tt.sni, sni.Load())
		})
	}
}

// TestCAFileRotation: the CA file is read at each check, so fixing it
// takes effect without a restart.
func TestCAFileRotation(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	good, err := os.ReadFile(writeCert(t, srv))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, []byte("junk"), 0o600))

	p := newProbe(target("r", srv.URL, zones.HealthCheck{CAFile: path}), 5*time.Second)
	ctx := context.Background()
	require.Contains(t, p.run(ctx).Error, "holds no PEM certificate")
	require.NoError(t, os.WriteFile(path, good, 0o600))
	res := p.run(ctx)
	require.True(t, res.OK, res.Error)
	client := p.(*httpProbe).client
	require.True(t, p.run(ctx).OK)
	require.Same(t, client, p.(*httpProbe).client, "an unchanged CA file rebuilt the client")
}
