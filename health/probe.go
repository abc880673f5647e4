package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/geodns/geodns/zones"
)

const (
	// maxBody is how much of a response body is searched for the expected
	// substring.
	maxBody = 64 << 10
	// maxHeader bounds the response headers a check accepts.
	maxHeader = 64 << 10
	userAgent = "geodns-health-check"
)

// probe performs one check. ctx carries the check's timeout; a probe
// does not record anything, set Result.Time or tell cancellation from
// failure (the caller does).
type probe interface {
	run(ctx context.Context) Result
}

// newProbe builds the probe of a target. A target that cannot be checked
// gets a probe that fails every time with the reason.
func newProbe(t Target, timeout time.Duration) probe {
	u, err := url.Parse(t.Endpoint)
	if err != nil || u.Hostname() == "" {
		return badTarget(fmt.Sprintf("invalid endpoint %q: not an absolute URL with a host", t.Endpoint))
	}
	kind := t.Check.Kind
	if kind == "" {
		kind = u.Scheme
	}
	switch kind {
	case "tcp":
		port := u.Port()
		if port == "" {
			switch u.Scheme {
			case "http":
				port = "80"
			case "https":
				port = "443"
			default:
				return badTarget(fmt.Sprintf("invalid endpoint %q: a tcp check needs a port", u.Redacted()))
			}
		}
		return &tcpProbe{addr: net.JoinHostPort(u.Hostname(), port), timeout: timeout}
	case "http", "https":
		if u.Scheme != kind {
			return badTarget(fmt.Sprintf("check kind %s does not fit the endpoint %s", kind, u.Redacted()))
		}
		return newHTTPProbe(u, t.Check, timeout)
	default:
		return badTarget(fmt.Sprintf("cannot check endpoint %s: unknown check kind %q", u.Redacted(), kind))
	}
}

// badTarget is the probe of a target that cannot be checked.
type badTarget string

func (b badTarget) run(context.Context) Result { return Result{Error: string(b)} }

// tcpProbe opens a TCP connection and closes it.
type tcpProbe struct {
	addr    string
	timeout time.Duration
}

func (p *tcpProbe) run(ctx context.Context) Result {
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	latency := time.Since(start)
	if err != nil {
		// "dial tcp ADDR: connect: connection refused" says less than
		// the innermost error with the address in front.
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
			var sys *os.SyscallError
			if errors.As(err, &sys) {
				err = sys.Err
			}
		}
		return Result{Latency: latency, Error: "connect to " + p.addr + ": " + failure(ctx, err, p.timeout)}
	}
	conn.Close()
	return Result{OK: true, Latency: latency}
}

// httpProbe GETs a URL.
type httpProbe struct {
	url      string // what is requested
	display  string // the URL for messages, password redacted
	host     string // Host header override
	body     string
	min, max int
	timeout  time.Duration
	// tls is the TLS configuration of https checks without its roots;
	// nil for http.
	tls    *tls.Config
	caFile string

	mu     sync.Mutex
	client *http.Client // nil until built, with the CA file's caPEM
	caPEM  []byte
}

func newHTTPProbe(u *url.URL, c zones.HealthCheck, timeout time.Duration) probe {
	target := *u
	target.Fragment, target.RawFragment = "", ""
	if c.Path != "" {
		pu, err := url.Parse(c.Path)
		if err != nil || pu.Host != "" || pu.Scheme != "" {
			return badTarget(fmt.Sprintf("invalid check path %q", c.Path))
		}
		target.Path, target.RawPath, target.RawQuery, target.ForceQuery = pu.Path, pu.RawPath, pu.RawQuery, pu.ForceQuery
	}
	p := &httpProbe{
		url:     target.String(),
		display: target.Redacted(),
		host:    c.Host,
		body:    c.Body,
		min:     c.StatusMin,
		max:     c.StatusMax,
		timeout: timeout,
		caFile:  c.CAFile,
	}
	if p.min == 0 && p.max == 0 {
		p.min, p.max = 200, 399
	} else if p.max == 0 {
		p.max = p.min
	}
	if u.Scheme == "https" {
		p.tls = &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	}
	if p.caFile == "" || p.tls == nil {
		p.client = p.newClient(p.tls)
	}
	return p
}

// newClient returns a client for one target. Keep-alives are off so that
// every check dials: a pooled connection would keep "succeeding" over a
// socket opened long ago while new clients cannot connect, and would leave
// connection set-up out of the latency (see Reachability in the package
// documentation). Proxies from the environment are ignored for the same
// reason: the check must reach the endpoint, not a proxy.
func (p *httpProbe) newClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            (&net.Dialer{KeepAlive: -1}).DialContext,
			TLSClientConfig:        tlsConfig,
			TLSHandshakeTimeout:    p.timeout,
			DisableKeepAlives:      true,
			MaxResponseHeaderBytes: maxHeader,
		},
		// A redirect is an answer like any other, judged by its status.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       p.timeout,
	}
}

// getClient returns the client to use. With a CA file, the file is read
// at every check and the client rebuilt when its content changed, so that
// a rotated bundle takes effect without a restart (a few KiB read every
// interval is nothing next to the check itself).
func (p *httpProbe) getClient() (*http.Client, error) {
	if p.caFile == "" || p.tls == nil {
		return p.client, nil
	}
	pem, err := os.ReadFile(p.caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the CA file: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil && bytes.Equal(pem, p.caPEM) {
		return p.client, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %s holds no PEM certificate", p.caFile)
	}
	cfg := p.tls.Clone()
	cfg.RootCAs = pool
	p.client, p.caPEM = p.newClient(cfg), pem
	return p.client, nil
}

func (p *httpProbe) run(ctx context.Context) Result {
	start := time.Now()
	fail := func(status int, format string, args ...any) Result {
		return Result{Latency: time.Since(start), Status: status, Error: "GET " + p.display + ": " + fmt.Sprintf(format, args...)}
	}
	client, err := p.getClient()
	if err != nil {
		return fail(0, "%v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return fail(0, "%v", err)
	}
	req.Header.Set("User-Agent", userAgent)
	if p.host != "" {
		req.Host = p.host
	}
	resp, err := client.Do(req)
	latency := time.Since(start)
	if err != nil {
		// *url.Error repeats the method and URL, in its own spelling.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail(0, "%s", failure(ctx, err, p.timeout))
	}
	defer resp.Body.Close()
	if resp.StatusCode < p.min || resp.StatusCode > p.max {
		r := fail(resp.StatusCode, "status %d (want %d-%d)", resp.StatusCode, p.min, p.max)
		r.Latency = latency
		return r
	}
	if p.body != "" {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			r := fail(resp.StatusCode, "reading the body: %s", failure(ctx, err, p.timeout))
			r.Latency = latency
			return r
		}
		if !bytes.Contains(data, []byte(p.body)) {
			r := fail(resp.StatusCode, "the body (first %d bytes) does not contain %q", len(data), p.body)
			r.Latency = latency
			return r
		}
	}
	return Result{OK: true, Latency: latency, Status: resp.StatusCode}
}

// failure describes err, saying plainly when the check ran out of time.
func failure(ctx context.Context, err error, timeout time.Duration) string {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return "timed out after " + timeout.String()
	}
	return err.Error()
}
