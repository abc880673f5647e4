package cmd

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/joho/godotenv"
	"github.com/spf13/pflag"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/zones"
)

// Environment variables of the seed configuration, and our own.
const (
	envRegionalEndpoints = "REGIONAL_ENDPOINTS"
	envStrategy          = "LOAD_BALANCING_STRATEGY"
	envHealthInterval    = "HEALTH_CHECK_INTERVAL"
	envFailoverEnabled   = "FAILOVER_ENABLED"
	envFailoverThreshold = "FAILOVER_THRESHOLD"
)

// environment reads variables from the process environment, then from a
// .env file in the working directory; the process environment wins.
type environment struct {
	file map[string]string
}

// loadEnvironment reads .env if it exists.
func loadEnvironment(path string) (environment, error) {
	m, err := godotenv.Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return environment{}, nil
	}
	if err != nil {
		return environment{}, fmt.Errorf("%s: %w", path, err)
	}
	return environment{file: m}, nil
}

func (e environment) get(name string) (string, bool) {
	if v, ok := os.LookupEnv(name); ok {
		return v, true
	}
	v, ok := e.file[name]
	return v, ok
}

// settings are what `geodns serve` runs with, after flags, environment
// and .env are combined (flags win).
type settings struct {
	DNSAddrs          []string
	DNSWorkers        int
	ZonesDir          string
	DataDir           string
	GeoIP             string
	LogLevel          string
	LogFormat         string
	NodeID            string
	Strategy          balancer.Strategy
	RegionalEndpoints []*zones.Region
	HealthInterval    time.Duration
	StaleAfter        time.Duration
	RRL               rrlSettings
	QueryLog          queryLogSettings
	FailoverEnabled   bool
	FailoverThreshold int
	API               apiSettings
}

// fromEnvironment fills what the flags left unset from the environment
// and validates the seed variables.
func (s *settings) fromEnvironment(env environment, flags *pflag.FlagSet) error {
	strFlag := func(flag, name string, dst *string) {
		if v, ok := env.get(name); ok && !flags.Changed(flag) {
			*dst = v
		}
	}
	strFlag("zones", "GEODNS_ZONES", &s.ZonesDir)
	strFlag("geoip", "GEODNS_GEOIP", &s.GeoIP)
	strFlag("data-dir", "GEODNS_DATA_DIR", &s.DataDir)
	strFlag("log-level", "GEODNS_LOG_LEVEL", &s.LogLevel)
	strFlag("log-format", "GEODNS_LOG_FORMAT", &s.LogFormat)
	strFlag("node-id", "GEODNS_NODE_ID", &s.NodeID)

	strategy := string(balancer.RoundRobin)
	strFlag("strategy", envStrategy, &strategy)
	if flags.Changed("strategy") {
		strategy, _ = flags.GetString("strategy")
	}
	st, err := balancer.ParseStrategy(strategy)
	if err != nil {
		return fmt.Errorf("%s: %w", envStrategy, err)
	}
	s.Strategy = st

	if v, ok := env.get(envRegionalEndpoints); ok {
		if s.RegionalEndpoints, err = zones.ParseRegionalEndpoints(v); err != nil {
			return fmt.Errorf("%s: %w", envRegionalEndpoints, err)
		}
	}
	s.HealthInterval = 30 * time.Second
	if v, ok := env.get(envHealthInterval); ok {
		if s.HealthInterval, err = parseInterval(v); err != nil {
			return fmt.Errorf("%s=%q: %w", envHealthInterval, v, err)
		}
	}
	s.FailoverEnabled = true
	if v, ok := env.get(envFailoverEnabled); ok {
		if s.FailoverEnabled, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%s=%q: want true or false", envFailoverEnabled, v)
		}
	}
	s.FailoverThreshold = 3
	if v, ok := env.get(envFailoverThreshold); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%s=%q: want a whole number of failed checks, at least 1", envFailoverThreshold, v)
		}
		s.FailoverThreshold = n
	}
	if s.NodeID == "" {
		s.NodeID, _ = os.Hostname()
	}
	if err := s.QueryLog.fromEnvironment(env, flags); err != nil {
		return err
	}
	return s.API.fromEnvironment(env, flags)
}

// parseInterval accepts a Go duration ("30s", "1m") or plain seconds ("30").
func parseInterval(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		v = strconv.Itoa(n) + "s"
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New(`want a duration such as "30s" or a number of seconds`)
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}
