package cmd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/geodns/geodns/api"
	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/health"
	"github.com/geodns/geodns/zones"
)

// Environment variables of the API.
const (
	envAPIAddr  = "GEODNS_API_ADDR"
	envAPIToken = "API_TOKEN"
)

// apiSettings are the REST API's settings (see addAPIFlags).
type apiSettings struct {
	Addr      string // "" when the API is off
	Token     string
	TokenFile string
	AuthAll   bool
	TLSCert   string
	TLSKey    string
	Rate      float64
}

// addAPIFlags declares the API's flags on the serve command.
func addAPIFlags(c *cobra.Command, s *settings) {
	f := c.Flags()
	f.StringVar(&s.API.Addr, "api-addr", "127.0.0.1:8080", `address of the REST API; "" or "off" turns it off; env `+envAPIAddr)
	f.StringVar(&s.API.TokenFile, "api-token-file", "", "file holding the API token that changes (and, with --api-auth-all, reads) need; default: env "+envAPIToken+"; without a token, changes are accepted on a loopback address only")
	f.BoolVar(&s.API.AuthAll, "api-auth-all", false, "require the token for every API call, reads too (but /healthz and /readyz)")
	f.StringVar(&s.API.TLSCert, "api-tls-cert", "", "PEM certificate (chain) to serve the API over TLS with; needs --api-tls-key")
	f.StringVar(&s.API.TLSKey, "api-tls-key", "", "PEM private key of --api-tls-cert")
	f.Float64Var(&s.API.Rate, "api-rate", 20, "API requests per second one client address may make, in bursts of twice as many; 0: no limit")
}

// fromEnvironment completes the API settings from the environment and the
// token file. It does nothing for commands without the API's flags.
func (a *apiSettings) fromEnvironment(env environment, flags *pflag.FlagSet) error {
	if flags.Lookup("api-addr") == nil {
		return nil
	}
	if v, ok := env.get(envAPIAddr); ok && !flags.Changed("api-addr") {
		a.Addr = v
	}
	if a.Addr == "off" {
		a.Addr = ""
	}
	if a.TokenFile != "" {
		data, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return fmt.Errorf("--api-token-file: %w", err)
		}
		if a.Token = strings.TrimSpace(string(data)); a.Token == "" {
			return fmt.Errorf("--api-token-file %s: the file is empty", a.TokenFile)
		}
	} else if v, ok := env.get(envAPIToken); ok {
		a.Token = strings.TrimSpace(v)
	}
	switch {
	case a.Rate < 0:
		return fmt.Errorf("--api-rate %v: must be >= 0", a.Rate)
	case (a.TLSCert == "") != (a.TLSKey == ""):
		return errors.New("--api-tls-cert and --api-tls-key go together")
	case a.AuthAll && a.Token == "":
		return fmt.Errorf("--api-auth-all needs a token (%s or --api-token-file)", envAPIToken)
	}
	return nil
}

// startAPI serves the REST API over ctl when s.API.Addr is set; it returns
// nil, nil when the API is off. It makes region changes reach the health
// checker (ctl.OnRegions) unless something set that hook already. checker
// may be nil (no health checks): the health calls then answer 503. reg is
// the registry GET /metrics serves; nil serves the API's counters only.
// extra completes the options with what only some callers have, such as
// serve's DNS query counter.
func startAPI(s settings, store *balancer.Store, ctl *balancer.Control, checker *health.Checker, ready func() bool, reg *prometheus.Registry, log zerolog.Logger, extra ...func(*api.Options)) (*api.Server, error) {
	if err := ctl.LoadError(); err != nil {
		log.Warn().Err(err).Msg("runtime state partly left out: it no longer fits the zone files")
	}
	if checker != nil && ctl.OnRegions == nil {
		ctl.OnRegions = func(set *zones.Set) { checker.Sync(targets(set)) }
	}
	if s.API.Addr == "" {
		log.Info().Msg("REST API off (--api-addr off)")
		return nil, nil
	}
	opts := api.Options{
		Store: store, Control: ctl, Token: s.API.Token, AuthAll: s.API.AuthAll,
		RateLimit: s.API.Rate, NodeID: s.NodeID, Version: Version, Ready: ready, Metrics: reg, Log: log.With().Str("component", "api").Logger(),
	}
	if checker != nil {
		opts.Health = checker
	}
	for _, f := range extra {
		f(&opts)
	}
	srv := api.New(opts)
	if err := srv.Start(s.API.Addr, s.API.TLSCert, s.API.TLSKey); err != nil {
		return nil, err
	}
	if host, _, err := net.SplitHostPort(srv.Addr()); err == nil && !net.ParseIP(host).IsLoopback() && s.API.TLSCert == "" && s.API.Token != "" {
		log.Warn().Str("addr", srv.Addr()).Msg("the API token travels in clear text: serve the API over TLS (--api-tls-cert, --api-tls-key) off loopback")
	}
	return srv, nil
}
