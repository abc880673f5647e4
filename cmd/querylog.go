package cmd

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	dnsserver "github.com/geodns/geodns/dns"
)

// Environment variables of the query log settings.
const (
	envDnstap         = "GEODNS_DNSTAP"
	envQueryLog       = "GEODNS_QUERY_LOG"
	envQueryLogSample = "GEODNS_QUERY_LOG_SAMPLE"
)

// queryLogSettings are the query logging flags of `geodns serve`.
type queryLogSettings struct {
	Dnstap   string // unix:/path or file:/path; "" off
	QueryLog string // -, stderr, stdout or a file; "" off
	Sample   int
	Buffer   int
}

// addQueryLogFlags declares the query logging flags into q.
func addQueryLogFlags(c *cobra.Command, q *queryLogSettings) {
	f := c.Flags()
	f.StringVar(&q.Dnstap, "dnstap", "", "write every query and response as dnstap to a collector's socket (unix:/path/to.sock, reconnecting) or to a file (file:/path, truncated at start); env "+envDnstap)
	f.StringVar(&q.QueryLog, "query-log", "", "log every query as a JSON line to - or stderr, stdout, or a file (appended): client, ECS subnet, name, type, rcode, chosen region and why, duration; env "+envQueryLog)
	f.IntVar(&q.Sample, "query-log-sample", 1, "log 1 query in N, to --dnstap and --query-log alike; env "+envQueryLogSample)
	f.IntVar(&q.Buffer, "query-log-buffer", dnsserver.DefaultTapBuffer, "queries each query log output holds while it is slow; more are dropped (and counted), never waited for")
}

// fromEnvironment fills what the flags left unset.
func (q *queryLogSettings) fromEnvironment(env environment, flags *pflag.FlagSet) error {
	if v, ok := env.get(envDnstap); ok && !flags.Changed("dnstap") {
		q.Dnstap = v
	}
	if v, ok := env.get(envQueryLog); ok && !flags.Changed("query-log") {
		q.QueryLog = v
	}
	if v, ok := env.get(envQueryLogSample); ok && !flags.Changed("query-log-sample") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want a whole number", envQueryLogSample, v)
		}
		q.Sample = n
	}
	return nil
}

// tap opens the outputs q asks for and returns a tap writing to them, or
// nil when there are none. identity names the node in dnstap messages.
func (q queryLogSettings) tap(identity string, log zerolog.Logger) (*dnsserver.Tap, error) {
	if q.Dnstap == "" && q.QueryLog == "" {
		return nil, nil
	}
	if q.Sample < 1 {
		return nil, fmt.Errorf("--query-log-sample %d: want 1 (every query) or more", q.Sample)
	}
	if q.Buffer < 1 {
		return nil, fmt.Errorf("--query-log-buffer %d: want at least 1", q.Buffer)
	}
	t := dnsserver.NewTap(dnsserver.TapConfig{Sample: q.Sample, Buffer: q.Buffer, Log: log})
	if q.Dnstap != "" {
		d, err := dnsserver.OpenDnstap(q.Dnstap, identity, "geodns "+Version, log)
		if err != nil {
			return nil, fmt.Errorf("--dnstap: %w", err)
		}
		t.Add("dnstap", d)
	}
	if q.QueryLog != "" {
		ql, err := dnsserver.OpenQueryLog(q.QueryLog)
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			t.Close(ctx) // the dnstap output opened above
			return nil, fmt.Errorf("--query-log: %w", err)
		}
		t.Add("querylog", ql)
	}
	log.Info().
		Str("dnstap", q.Dnstap).
		Str("query_log", q.QueryLog).
		Int("sample", q.Sample).
		Int("buffer", q.Buffer).
		Msg("query logging on")
	return t, nil
}
