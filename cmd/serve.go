package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/geodns/geodns/api"
	"github.com/geodns/geodns/balancer"
	dnsserver "github.com/geodns/geodns/dns"
	"github.com/geodns/geodns/geo"
	"github.com/geodns/geodns/health"
	"github.com/geodns/geodns/zones"
)

const defaultZonesDir = "/etc/geodns/zones"

// addCommonFlags declares the flags that say what to serve, shared by
// `serve` and the `zone` commands.
func addCommonFlags(c *cobra.Command, s *settings) {
	f := c.Flags()
	f.StringVar(&s.ZonesDir, "zones", defaultZonesDir, "directory of zone files (*.yaml); env GEODNS_ZONES")
	f.StringVar(&s.GeoIP, "geoip", "", "MaxMind-format GeoIP database (City or Country; GeoLite2, GeoIP2 or DB-IP); env GEODNS_GEOIP; none: geo answers use each service's default region")
	f.String("strategy", string(balancer.RoundRobin), "default strategy for services that name none: round_robin, weighted, least_latency, geo; env LOAD_BALANCING_STRATEGY")
	f.StringVar(&s.LogLevel, "log-level", "info", "log level: debug, info, warn, error; env GEODNS_LOG_LEVEL")
	f.StringVar(&s.LogFormat, "log-format", "auto", "log format: auto (console on a terminal, else JSON), console, json; env GEODNS_LOG_FORMAT")
}

func newServeCmd() *cobra.Command {
	var s settings
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the zones over DNS (UDP and TCP)",
		Long: `Serve the zone files of --zones authoritatively over UDP and TCP.

Settings come from flags, then the environment, then a .env file in the
working directory. The seed variables are read as well:

  REGIONAL_ENDPOINTS       extra regions, "us-east:https://us.example.com,eu-west:https://eu.example.com"
  LOAD_BALANCING_STRATEGY  default strategy (round_robin, weighted, least_latency, geo)
  HEALTH_CHECK_INTERVAL    time between health checks ("30s" or seconds; default 30s)
  FAILOVER_ENABLED         drop regions that fail their checks from answers (default true)
  FAILOVER_THRESHOLD       failed checks before a region is down (default 3)`,
		Example: `  geodns serve --zones testdata/zones --geoip testdata/geoip-city.mmdb
  geodns serve --dns-addr 0.0.0.0:53 --dns-addr [::]:53 --zones /etc/geodns/zones`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := s.load(c); err != nil {
				return err
			}
			return serve(c.Context(), s)
		},
	}
	addCommonFlags(c, &s)
	c.Flags().StringVar(&s.DataDir, "data-dir", "/var/lib/geodns", "directory for runtime state changed through the API (regions, weights, strategy, manual failovers, admin states); env GEODNS_DATA_DIR")
	c.Flags().DurationVar(&s.StaleAfter, "health-stale-after", 0, "report a region's health as stale when its last check is older than this (default: 3 check intervals); the last state stays in force")
	addAPIFlags(c, &s)
	addRRLFlags(c, &s.RRL)
	addQueryLogFlags(c, &s.QueryLog)
	c.Flags().StringArrayVar(&s.DNSAddrs, "dns-addr", []string{"127.0.0.1:5353"}, "address to serve DNS on, UDP and TCP (repeatable)")
	c.Flags().IntVar(&s.DNSWorkers, "dns-workers", 0, "UDP sockets per --dns-addr, each served by its own goroutine (SO_REUSEPORT); 0: one per CPU (GOMAXPROCS)")
	c.Flags().StringVar(&s.NodeID, "node-id", "", "name of this node in NSID and CHAOS id.server answers (default: host name); env GEODNS_NODE_ID")
	return c
}

// load combines flags, environment and .env into s.
func (s *settings) load(c *cobra.Command) error {
	env, err := loadEnvironment(".env")
	if err != nil {
		return err
	}
	return s.fromEnvironment(env, c.Flags())
}

func serve(ctx context.Context, s settings) error {
	log, err := newLogger(os.Stderr, s.LogLevel, s.LogFormat)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	in, err := start(ctx, s, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return in.stop(shutdownCtx)
}

// instance is one running server: its state and the services it runs.
type instance struct {
	store    *balancer.Store
	ctl      *balancer.Control
	checker  *health.Checker
	dns      *dnsserver.Server
	tap      *dnsserver.Tap // query logs; nil when off
	api      *api.Server
	reloader *reloader
	metrics  *metricsCollector
	ready    atomic.Bool
	closeGeo func()
	cancel   context.CancelFunc
}

// start loads everything, checks every region once and starts serving.
// It returns once the listeners are bound; ctx ends the background work.
func start(ctx context.Context, s settings, log zerolog.Logger) (*instance, error) {
	snap, closeGeo, err := buildSnapshot(s, log)
	if err != nil {
		return nil, err
	}
	in := &instance{closeGeo: closeGeo, store: balancer.NewStore(snap)}
	ctx, in.cancel = context.WithCancel(ctx)
	if err := in.startServices(ctx, s, log); err != nil {
		in.stop(context.Background())
		return nil, err
	}
	return in, nil
}

func (in *instance) startServices(ctx context.Context, s settings, log zerolog.Logger) error {
	if err := os.MkdirAll(s.DataDir, 0o750); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	runtimePath := filepath.Join(s.DataDir, zones.RuntimeFile)
	rt, err := zones.LoadRuntime(runtimePath)
	if err != nil {
		return err
	}
	in.ctl = balancer.NewControl(in.store, rt, func(rt zones.Runtime) error { return rt.Save(runtimePath) })
	log.Info().
		Str("strategy", string(s.Strategy)).
		Dur("health_interval", s.HealthInterval).
		Bool("failover_enabled", s.FailoverEnabled).
		Int("failover_threshold", s.FailoverThreshold).
		Str("node_id", s.NodeID).
		Str("data_dir", s.DataDir).
		Msg("settings")

	in.checker = startHealth(ctx, s, in.store, in.ctl, log)
	in.dns = dnsserver.NewServer(in.store, log)
	in.dns.UDPWorkers = s.DNSWorkers
	rrl, err := s.RRL.limiter(log)
	if err != nil {
		return err
	}
	in.dns.SetRRL(rrl)
	if in.tap, err = s.QueryLog.tap(s.NodeID, log); err != nil {
		return err
	}
	in.dns.SetTap(in.tap)
	if err := in.dns.Listen(s.DNSAddrs...); err != nil {
		return err
	}
	in.metrics = &metricsCollector{store: in.store, ctl: in.ctl, checker: in.checker, dns: in.dns}
	if in.api, err = startAPI(s, in.store, in.ctl, in.checker, in.ready.Load, newMetrics(in.metrics), log, func(o *api.Options) { o.Queries = in.dns.Metrics().Total }); err != nil {
		return err
	}
	// After startAPI, which makes reloaded regions reach the checker. The
	// reloader owns the GeoIP database from here on; stop closes it.
	in.reloader = startReloader(ctx, s, in.store, in.ctl, log)
	in.metrics.reloads.Store(&in.reloader.Stats)
	in.closeGeo = in.reloader.close
	in.ready.Store(true)
	return nil
}

// stop ends serving: listeners first, so no query sees a half-stopped
// server, then health checks and the GeoIP database.
func (in *instance) stop(ctx context.Context) error {
	var errs []error
	if in.api != nil {
		errs = append(errs, in.api.Shutdown(ctx))
	}
	if in.dns != nil {
		errs = append(errs, in.dns.Shutdown(ctx))
	}
	errs = append(errs, in.tap.Close(ctx)) // after DNS: the last queries are logged
	in.cancel()
	if in.checker != nil {
		in.checker.Stop()
	}
	in.closeGeo()
	return errors.Join(errs...)
}

// buildSnapshot loads the zones and the GeoIP database and logs what will
// be served. The returned function closes the database.
func buildSnapshot(s settings, log zerolog.Logger) (*balancer.Snapshot, func(), error) {
	set, err := zones.LoadDir(s.ZonesDir, s.RegionalEndpoints)
	if err != nil {
		return nil, nil, err
	}
	snap := &balancer.Snapshot{Zones: set, DefaultStrategy: s.Strategy, NodeID: s.NodeID, IgnoreHealth: !s.FailoverEnabled}
	closeGeo := func() {}
	if s.GeoIP == "" {
		log.Warn().Msg("no GeoIP database (--geoip): geo services answer with their default region")
	} else {
		db, err := geo.Open(s.GeoIP)
		if err != nil {
			return nil, nil, err
		}
		info := db.Info()
		log.Info().Str("path", info.Path).Str("type", info.Type).Time("built", info.BuildTime).Msg("GeoIP database")
		snap.Geo = cachedLocator(db)
		closeGeo = func() { db.Close() }
	}
	for _, z := range set.Zones {
		log.Info().Str("zone", z.Origin).Str("file", z.File).Int("names", len(z.Nodes)).Msg("serving zone")
	}
	for _, name := range set.RegionNames {
		r := set.Regions[name]
		log.Info().Str("region", r.Name).Str("endpoint", r.Endpoint).Float64("weight", r.Weight).Msg("region")
	}
	return snap, closeGeo, nil
}

// geoCacheSlots sizes the GeoIP answer cache: 64k networks of recent
// clients, a few MiB.
const geoCacheSlots = 1 << 16

// cachedLocator puts a fresh answer cache in front of db, so a reloaded
// database never answers from its predecessor's cache.
func cachedLocator(db *geo.DB) *geo.Cache { return geo.NewCache(db, geoCacheSlots) }

// errorf reports a failure the user must see, with an exit code.
func errorf(c *cobra.Command, code int, format string, args ...any) error {
	fmt.Fprintf(c.ErrOrStderr(), format+"\n", args...)
	return exitError{code: code}
}
