package cmd

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	dnsserver "github.com/geodns/geodns/dns"
)

// rrlSettings are the response rate limiting flags of `geodns serve`.
type rrlSettings struct {
	Rate       int
	Burst      int
	Slip       int
	Whitelist  []string
	IPv4Prefix int
	IPv6Prefix int
}

// addRRLFlags declares the response rate limiting flags into r.
func addRRLFlags(c *cobra.Command, r *rrlSettings) {
	f := c.Flags()
	f.IntVar(&r.Rate, "rrl-rate", 0, "response rate limiting over UDP: responses per second per client prefix and kind of response (0: off); TCP is never limited")
	f.IntVar(&r.Burst, "rrl-burst", 0, "responses a client prefix may get at once before --rrl-rate applies (0: equal to --rrl-rate)")
	f.IntVar(&r.Slip, "rrl-slip", dnsserver.DefaultRRLSlip, "over the limit, answer every Nth response with an empty truncated (TC) answer so real resolvers retry over TCP, and drop the rest (0: drop all, 1: truncate all)")
	f.StringArrayVar(&r.Whitelist, "rrl-whitelist", nil, "client prefix (CIDR or address) never rate limited (repeatable)")
	f.IntVar(&r.IPv4Prefix, "rrl-ipv4-prefix", 24, "IPv4 clients are rate limited together per prefix of this length")
	f.IntVar(&r.IPv6Prefix, "rrl-ipv6-prefix", 56, "IPv6 clients are rate limited together per prefix of this length")
}

// limiter returns the response rate limiter r asks for, or nil when
// --rrl-rate is 0 (off).
func (r rrlSettings) limiter(log zerolog.Logger) (*dnsserver.RRL, error) {
	if r.Rate == 0 {
		return nil, nil
	}
	cfg := dnsserver.RRLConfig{
		Rate:       r.Rate,
		Burst:      r.Burst,
		Slip:       r.Slip,
		IPv4Prefix: r.IPv4Prefix,
		IPv6Prefix: r.IPv6Prefix,
	}
	if r.IPv4Prefix == 0 || r.IPv6Prefix == 0 {
		return nil, fmt.Errorf("--rrl-ipv4-prefix and --rrl-ipv6-prefix must be at least 1")
	}
	for _, w := range r.Whitelist {
		p, err := parsePrefix(w)
		if err != nil {
			return nil, fmt.Errorf("--rrl-whitelist %q: %w", w, err)
		}
		cfg.Whitelist = append(cfg.Whitelist, p)
	}
	l, err := dnsserver.NewRRL(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("--rrl-*: %w", err)
	}
	log.Info().
		Int("rate", r.Rate).
		Int("burst", max(r.Burst, 0)).
		Int("slip", r.Slip).
		Int("ipv4_prefix", r.IPv4Prefix).
		Int("ipv6_prefix", r.IPv6Prefix).
		Strs("whitelist", r.Whitelist).
		Msg("response rate limiting on")
	return l, nil
}

// parsePrefix reads a CIDR prefix, or an address as a one-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
