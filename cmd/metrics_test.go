package cmd

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/balancer"
	dnsserver "github.com/geodns/geodns/dns"
)

// scrape returns the series of GET /metrics as "name{labels}" -> value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	return out
}

func TestMetricsEndpoint(t *testing.T) {
	a, b := newTarget(t), newTarget(t)
	s := settings{
		DNSAddrs: []string{"127.0.0.1:0"}, ZonesDir: failoverZone(t, a, b), DataDir: t.TempDir(),
		NodeID: "test", Strategy: balancer.RoundRobin,
		HealthInterval: time.Second, FailoverEnabled: true, FailoverThreshold: 3,
		API: apiSettings{Addr: "127.0.0.1:0"},
	}
	in, err := start(context.Background(), s, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { in.stop(context.Background()) })

	for range 5 {
		require.Equal(t, both, answers(t, in))
	}
	c := &dns.Client{Timeout: time.Second}
	q := new(dns.Msg)
	q.SetQuestion("nope.lb.test.", dns.TypeMX)
	r, _, err := c.Exchange(q, in.dns.Addrs()[0])
	require.NoError(t, err)
	require.Equal(t, dns.RcodeNameError, r.Rcode)
	q = new(dns.Msg)
	q.SetQuestion("example.org.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().Option = append(q.IsEdns0().Option, dnsserver.ClientSubnet(netip.MustParsePrefix("198.51.100.0/24")))
	r, _, err = c.Exchange(q, in.dns.Addrs()[0])
	require.NoError(t, err)
	require.Equal(t, dns.RcodeRefused, r.Rcode)
	_, err = in.ctl.TriggerFailover("a", "b", "test")
	require.NoError(t, err)
	resp, err := http.Get("http://" + in.api.Addr() + "/api/v1/lb/regions/a")
	require.NoError(t, err)
	resp.Body.Close()

	m := scrape(t, in.api.Addr())
	require.GreaterOrEqual(t, m[`geodns_dns_queries_total{qtype="A",rcode="NOERROR",zone="lb.test."}`], 5.0)
	require.Equal(t, 1.0, m[`geodns_dns_queries_total{qtype="MX",rcode="NXDOMAIN",zone="lb.test."}`])
	require.Equal(t, 1.0, m[`geodns_dns_queries_total{qtype="A",rcode="REFUSED",zone=""}`])
	require.Equal(t, 1.0, m[`geodns_dns_ecs_queries_total`])
	require.Contains(t, m, `geodns_dns_truncated_total`)
	require.GreaterOrEqual(t, m[`geodns_dns_answers_total{region="a",service="both.lb.test.",strategy="round_robin"}`]+
		m[`geodns_dns_answers_total{region="b",service="both.lb.test.",strategy="round_robin"}`], 5.0)
	require.Equal(t, 7.0, m[`geodns_dns_query_duration_seconds_count`])
	require.Equal(t, 7.0, m[`geodns_dns_query_duration_seconds_bucket{le="+Inf"}`])
	require.Equal(t, 1.0, m[`geodns_region_up{region="a"}`])
	require.Equal(t, 1.0, m[`geodns_region_up{region="b"}`])
	require.Equal(t, 0.0, m[`geodns_region_health_stale{region="a"}`])
	require.Greater(t, m[`geodns_region_check_latency_seconds{region="a"}`], 0.0)
	require.Equal(t, 1.0, m[`geodns_failovers{kind="manual"}`])
	require.Equal(t, 0.0, m[`geodns_failovers{kind="automatic"}`])
	require.Contains(t, m, `geodns_failopen_answers_total`)
	require.Equal(t, 0.0, m[`geodns_rrl_responses_total{action="dropped"}`])
	require.Equal(t, 0.0, m[`geodns_reloads_total{kind="zones",result="success"}`])
	require.Contains(t, m, `geodns_reload_last_success_timestamp_seconds`)
	require.Equal(t, 1.0, m[`geodns_api_requests_total{code="200",method="GET",route="/api/v1/lb/regions/:region"}`])
	require.Contains(t, m, `go_goroutines`)
	require.Contains(t, m, `process_start_time_seconds`)

	// Unknown URLs are counted under one label; scrapes count too.
	resp, err = http.Get("http://" + in.api.Addr() + "/no/such/thing")
	require.NoError(t, err)
	resp.Body.Close()
	m = scrape(t, in.api.Addr())
	require.Equal(t, 1.0, m[`geodns_api_requests_total{code="404",method="GET",route="unmatched"}`])
	require.Equal(t, 1.0, m[`geodns_api_requests_total{code="200",method="GET",route="/metrics"}`])
}
