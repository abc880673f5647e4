package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/health"
)

// Defaults of Options.
const (
	DefaultBodyLimit = 64 << 10
	// maxHistory caps the limit of a history request.
	maxHistory = 10_000
	// maxReason caps the length of a manual failover's reason.
	maxReason = 500
)

//go:embed openapi.yaml
var openAPI []byte

// Health is what the API needs of the health checker (*health.Checker).
type Health interface {
	CheckNow(ctx context.Context, region string) (health.Result, error)
	History(region string, limit int) ([]health.Result, bool)
	States() map[string]health.State
}

// Options configure a Server. Store and Control are required.
type Options struct {
	Store   *balancer.Store
	Control *balancer.Control
	// Health is the health checker; nil answers the health endpoints
	// with 503 and reports health from the snapshot alone.
	Health Health
	// Token is the bearer token mutating calls need (and every call but
	// /healthz and /readyz with AuthAll). Without a token, mutating calls
	// are accepted only when the API listens on a loopback address.
	Token   string
	AuthAll bool
	// RateLimit is the requests per second one client address may make,
	// with bursts of RateBurst (default twice the rate); 0 disables it.
	RateLimit float64
	RateBurst int
	// BodyLimit caps request bodies, in bytes; default 64 KiB.
	BodyLimit int64
	// NodeID and Version are reported by the status call.
	NodeID  string
	Version string
	// Started is when the server started, for the uptime; default New's
	// time.
	Started time.Time
	// Ready reports whether the process serves DNS (and has done its
	// first health round), for /readyz; nil: ready.
	Ready func() bool
	// Metrics is the registry GET /metrics serves; the API registers its
	// request counters in it. nil: a registry of the API's counters only.
	Metrics *prometheus.Registry
	// Queries returns how many DNS queries have been handled so far, for
	// GET /api/v1/stats (and the status page's queries per second); nil
	// answers that call with 503.
	Queries func() uint64
	Log     zerolog.Logger
}

// Server is the REST API over a balancer.Control.
type Server struct {
	opts     Options
	echo     *echo.Echo
	srv      *http.Server
	ln       net.Listener
	loopback atomic.Bool
	metrics  *apiMetrics
}

// New builds the server and its routes; Start serves them.
func New(opts Options) *Server {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = DefaultBodyLimit
	}
	if opts.Started.IsZero() {
		opts.Started = time.Now()
	}
	if opts.RateBurst <= 0 {
		opts.RateBurst = max(1, int(2*opts.RateLimit))
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	s := &Server{opts: opts, echo: echo.New(), metrics: newAPIMetrics(opts.Metrics)}
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	// Clients are told apart by the connection's address: headers such
	// as X-Forwarded-For are the client's to invent.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.opts.Log.Error().Err(err).Str("path", c.Path()).Bytes("stack", stack).Msg("api handler panicked")
			return err
		}}))
	e.Use(s.countRequests)
	e.Use(s.requestLog)
	if opts.RateLimit > 0 {
		e.Use(middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
			Skipper: isProbe,
			Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
				Rate: rate.Limit(opts.RateLimit), Burst: opts.RateBurst, ExpiresIn: 3 * time.Minute}),
			DenyHandler: func(c echo.Context, _ string, _ error) error {
				c.Response().Header().Set("Retry-After", "1")
				return &apiError{Status: http.StatusTooManyRequests,
					Msg: fmt.Sprintf("rate limit exceeded: at most %g requests per second per client, in bursts of %d", opts.RateLimit, opts.RateBurst)}
			},
		}))
	}
	e.Use(s.requireTokenConfigured)
	if opts.Token != "" {
		want := sha256.Sum256([]byte(opts.Token))
		e.Use(middleware.KeyAuthWithConfig(middleware.KeyAuthConfig{
			Skipper: s.openCall,
			// Hashing first makes the comparison constant-time in the
			// token's length as well as its content.
			Validator: func(key string, _ echo.Context) (bool, error) {
				got := sha256.Sum256([]byte(key))
				return subtle.ConstantTimeCompare(got[:], want[:]) == 1, nil
			},
			ErrorHandler: func(err error, c echo.Context) error {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="geodns"`)
				msg := "invalid token"
				var missing *middleware.ErrKeyAuthMissing
				if errors.As(err, &missing) {
					msg = "missing token: send the header Authorization: Bearer TOKEN"
				}
				return &apiError{Status: http.StatusUnauthorized, Msg: msg}
			},
		}))
	}
	e.Use(middleware.BodyLimit(strconv.FormatInt(opts.BodyLimit, 10) + "B"))
	s.routes()
	s.statusRoutes()
	for _, r := range e.Routes() {
		s.metrics.routes[r.Method+" "+r.Path] = true
	}
	return s
}

// Handler returns the API's http.Handler, for serving it another way.
func (s *Server) Handler() http.Handler { return s.echo }

// Start listens on addr (host:port; port 0 picks one) and serves in the
// background, over TLS when certFile and keyFile are given. It returns
// once the listener is bound, or with the error that kept it from being.
func (s *Server) Start(addr, certFile, keyFile string) error {
	var tlsConfig *tls.Config
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return errors.New("api: TLS needs both a certificate and a key")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("api TLS: %w", err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", addr, err)
	}
	tcp, _ := ln.Addr().(*net.TCPAddr)
	s.loopback.Store(tcp != nil && tcp.IP.IsLoopback())
	s.ln = ln
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	s.srv = &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A health check run on demand may take its whole timeout.
		WriteTimeout:   90 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       newStdLogger(s.opts.Log),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Log.Error().Err(err).Msg("api server stopped")
		}
	}()
	ev := s.opts.Log.Info()
	if s.opts.Token == "" && !s.loopback.Load() {
		ev = s.opts.Log.Warn().Str("changes", "refused: no API token and not on loopback")
	}
	ev.Str("addr", s.Addr()).Bool("tls", tlsConfig != nil).Bool("token", s.opts.Token != "").
		Bool("auth_all", s.opts.AuthAll).Msg("api listening")
	return nil
}

// Addr returns the bound address (useful with port 0); "" before Start.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting connections and waits for the calls in flight,
// up to ctx's deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// isProbe reports calls that are never rate limited or authenticated:
// the process probes an orchestrator polls.
func isProbe(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == "/healthz" || p == "/readyz"
}

// mutating reports calls that change something.
func mutating(c echo.Context) bool {
	switch c.Request().Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// openCall reports calls that need no token: probes, the status page
// (whose script asks for the token when reads need one), and reads unless
// AuthAll.
func (s *Server) openCall(c echo.Context) bool {
	return isProbe(c) || isStatusPage(c) || (!s.opts.AuthAll && !mutating(c))
}

// requireTokenConfigured refuses changes when no token is configured and
// the API can be reached from other hosts.
func (s *Server) requireTokenConfigured(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.opts.Token == "" && mutating(c) && !s.loopback.Load() {
			return &apiError{Status: http.StatusForbidden,
				Msg: "no API token is configured (API_TOKEN or --api-token-file), so changes are accepted only when the API listens on a loopback address"}
		}
		return next(c)
	}
}

// requestLog logs every call at debug level; changes are logged at info
// level by their handlers.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		s.opts.Log.Debug().Str("method", c.Request().Method).Str("path", c.Request().URL.Path).
			Int("status", c.Response().Status).Str("client", c.RealIP()).Dur("took", time.Since(start)).Msg("api call")
		return nil
	}
}

// apiError is an error answered as {"error": Msg, "field": Field}.
type apiError struct {
	Status int
	Field  string
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

// errorBody is the JSON of every error response.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

// handleError answers every error as a JSON errorBody.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := http.StatusInternalServerError, errorBody{Error: "internal error"}
	var ae *apiError
	var fe *balancer.FieldError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		status, body = ae.Status, errorBody{Error: ae.Msg, Field: ae.Field}
	case errors.As(err, &fe):
		status = http.StatusBadRequest
		switch {
		case errors.Is(err, balancer.ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(err, balancer.ErrConflict):
			status = http.StatusConflict
		}
		body = errorBody{Error: fe.Msg, Field: fe.Field}
	case errors.As(err, &he):
		status = he.Code
		switch status {
		case http.StatusNotFound:
			body.Error = "no such route: " + c.Request().Method + " " + c.Request().URL.Path
		case http.StatusMethodNotAllowed:
			body.Error = c.Request().Method + " is not allowed on " + c.Request().URL.Path
		case http.StatusRequestEntityTooLarge:
			body.Error = fmt.Sprintf("the request body is larger than %d bytes", s.opts.BodyLimit)
		default:
			body.Error = fmt.Sprint(he.Message)
		}
	default:
		s.opts.Log.Error().Err(err).Str("method", c.Request().Method).Str("path", c.Request().URL.Path).Msg("api call failed")
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.opts.Log.Debug().Err(err).Msg("api error response")
	}
}
