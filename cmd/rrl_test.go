package cmd

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/geodns/geodns/balancer"
)

// TestServeRRLWiring checks that response rate limiting is off by default
// and that --rrl-* settings reach the DNS server.
func TestServeRRLWiring(t *testing.T) {
	a, b := newTarget(t), newTarget(t)
	zonesDir := failoverZone(t, a, b)
	for _, rate := range []int{0, 5} {
		s := settings{
			DNSAddrs: []string{"127.0.0.1:0"}, ZonesDir: zonesDir, DataDir: t.TempDir(),
			Strategy: balancer.RoundRobin, HealthInterval: time.Second, FailoverEnabled: true, FailoverThreshold: 3,
			RRL: rrlSettings{Rate: rate, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56},
		}
		in, err := start(context.Background(), s, zerolog.Nop())
		require.NoError(t, err)
		require.Equal(t, rate > 0, in.dns.RRL() != nil, "rate %d", rate)
		require.NoError(t, in.stop(context.Background()))
	}
}
