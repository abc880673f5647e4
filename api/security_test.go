package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/api"
	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/zones"
)

const addBody = `{"region": "us-west", "endpoint": "https://192.0.2.50/"}`

func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		token  string
		status int
		msg    string
	}{
		{"change without token", "POST", "/api/v1/lb/regions", addBody, "", 401, "missing token: send the header Authorization: Bearer TOKEN"},
		{"change with wrong token", "POST", "/api/v1/lb/regions", addBody, "guess", 401, "invalid token"},
		{"change with a prefix of the token", "POST", "/api/v1/lb/regions", addBody, testToken[:4], 401, "invalid token"},
		{"delete without token", "DELETE", "/api/v1/lb/regions/us-east", "", "", 401, "missing token: send the header Authorization: Bearer TOKEN"},
		{"strategy without token", "PUT", "/api/v1/lb/strategy", `{"strategy": "geo"}`, "", 401, "missing token: send the header Authorization: Bearer TOKEN"},
		{"read without token", "GET", "/api/v1/lb/status", "", "", 200, ""},
		{"change with token", "POST", "/api/v1/lb/regions", addBody, testToken, 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.callWith(tc.method, tc.path, tc.body, tc.token)
			require.Equal(t, tc.status, res.Status, string(res.Body))
			if tc.status == http.StatusUnauthorized {
				require.Equal(t, `Bearer realm="geodns"`, res.Header.Get("WWW-Authenticate"))
				msg, field := res.apiError(t)
				require.Equal(t, tc.msg, msg)
				require.Empty(t, field)
			}
		})
	}
	require.Len(t, e.ctl.Runtime().Regions, 1, "only the authorised change happened")
}

func TestAuthAll(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.AuthAll = true })
	require.Equal(t, http.StatusUnauthorized, e.callWith("GET", "/api/v1/lb/status", "", "").Status)
	require.Equal(t, http.StatusUnauthorized, e.callWith("GET", "/api/v1/lb/regions", "", "wrong").Status)
	require.Equal(t, http.StatusOK, e.callWith("GET", "/api/v1/lb/status", "", testToken).Status)
	require.Equal(t, http.StatusOK, e.callWith("GET", "/healthz", "", "").Status, "probes never need the token")
	require.Equal(t, http.StatusOK, e.callWith("GET", "/readyz", "", "").Status)
}

// TestNoToken: without a token, changes are accepted on loopback only.
func TestNoToken(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Token = "" })
	require.Equal(t, http.StatusCreated, e.callWith("POST", "/api/v1/lb/regions", addBody, "").Status)

	store := balancer.NewStore(&balancer.Snapshot{Zones: e.store.Load().Zones})
	s := api.New(api.Options{Store: store, Control: balancer.NewControl(store, zones.Runtime{}, nil), Log: zerolog.Nop()})
	require.NoError(t, s.Start("0.0.0.0:0", "", ""))
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	_, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	other := &env{t: t, url: "http://127.0.0.1:" + port}
	res := other.callWith("POST", "/api/v1/lb/regions", addBody, "")
	require.Equal(t, http.StatusForbidden, res.Status)
	msg, _ := res.apiError(t)
	require.Equal(t, "no API token is configured (API_TOKEN or --api-token-file), so changes are accepted only when the API listens on a loopback address", msg)
	require.Equal(t, http.StatusOK, other.callWith("GET", "/api/v1/lb/regions", "", "").Status, "reads are fine")
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.RateLimit, o.RateBurst = 0.5, 3 })
	for range 3 {
		require.Equal(t, http.StatusOK, e.call("GET", "/api/v1/lb/status", "").Status)
	}
	res := e.call("GET", "/api/v1/lb/status", "")
	require.Equal(t, http.StatusTooManyRequests, res.Status)
	require.Equal(t, "1", res.Header.Get("Retry-After"))
	msg, _ := res.apiError(t)
	require.Equal(t, "rate limit exceeded: at most 0.5 requests per second per client, in bursts of 3", msg)
	require.Equal(t, http.StatusTooManyRequests, e.callWith("POST", "/api/v1/lb/regions", addBody, "").Status, "before authentication")
	require.Equal(t, http.StatusOK, e.callWith("GET", "/healthz", "", "").Status, "probes are not limited")
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.BodyLimit = 1024 })
	big := `{"from_region": "us-east", "to_region": "eu-west", "reason": "` + strings.Repeat("x", 2000) + `"}`
	res := e.call("POST", "/api/v1/lb/failover/trigger", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, res.Status)
	msg, _ := res.apiError(t)
	require.Equal(t, "the request body is larger than 1024 bytes", msg)

	// Without a Content-Length (chunked), the limit cuts the reading.
	req, err := http.NewRequest("POST", e.url+"/api/v1/lb/failover/trigger", io.MultiReader(strings.NewReader(big)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	hres, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	hres.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, hres.StatusCode)
	require.Empty(t, e.ctl.Runtime().Failovers)

	require.Equal(t, http.StatusOK, e.call("POST", "/api/v1/lb/failover/trigger", `{"from_region": "us-east", "to_region": "eu-west"}`).Status)
}

func TestDefaultBodyLimit(t *testing.T) {
	e := newEnv(t, nil)
	res := e.call("POST", "/api/v1/lb/regions", `{"region": "x", "endpoint": "https://x.example/", "countries": [`+strings.Repeat(`"DE",`, 14000)+`"DE"]}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, res.Status)
}

func TestTLS(t *testing.T) {
	cert, key := selfSigned(t)
	store := balancer.NewStore(&balancer.Snapshot{Zones: &zones.Set{}})
	s := api.New(api.Options{Store: store, Control: balancer.NewControl(store, zones.Runtime{}, nil)})
	require.ErrorContains(t, s.Start("127.0.0.1:0", cert, ""), "api: TLS needs both a certificate and a key")
	require.ErrorContains(t, s.Start("127.0.0.1:0", cert, filepath.Join(t.TempDir(), "missing.pem")), "api TLS: open")
	require.NoError(t, s.Start("127.0.0.1:0", cert, key))
	t.Cleanup(func() { s.Shutdown(t.Context()) })

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := client.Get("https://" + s.Addr() + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	res, err = http.Get("http://" + s.Addr() + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode, "plain HTTP is refused")
}

// selfSigned writes a certificate and key for 127.0.0.1.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "geodns test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(priv)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}
