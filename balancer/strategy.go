// Package balancer decides which regions answer a query. Given a service,
// a client (address and GeoIP location) and the health of every region, it
// returns the regions to answer with and why. It holds no network code: the
// dns package asks it, the health checker and the API feed it new snapshots.
//
// Strategies:
//
//   - round_robin: even rotation over the healthy regions.
//   - weighted: traffic proportional to region weights (floats; 0 drains).
//   - least_latency: the healthy region with the lowest measured latency;
//     until a region has been measured, round robin.
//   - geo: network overrides (most specific prefix wins), then regions
//     that explicitly serve the client's country, then its continent (by
//     weight when several qualify), then the nearest region by great-circle
//     distance, then the service's default region.
//
// Every decision skips regions the health view marks down. When all of a
// service's regions are down the decision fails open: it answers as if all
// were up and says so in its Reason.
package balancer

import (
	"fmt"
	"strings"
)

// Strategy names a selection algorithm.
type Strategy string

// The strategies, named as in LOAD_BALANCING_STRATEGY and the API.
const (
	RoundRobin   Strategy = "round_robin"
	Weighted     Strategy = "weighted"
	LeastLatency Strategy = "least_latency"
	Geo          Strategy = "geo"
)

// Strategies lists every strategy in documentation order.
var Strategies = []Strategy{RoundRobin, Weighted, LeastLatency, Geo}

// ParseStrategy validates a strategy name.
func ParseStrategy(s string) (Strategy, error) {
	for _, st := range Strategies {
		if string(st) == s {
			return st, nil
		}
	}
	names := make([]string, len(Strategies))
	for i, st := range Strategies {
		names[i] = string(st)
	}
	return "", fmt.Errorf("unknown strategy %q (want one of %s)", s, strings.Join(names, ", "))
}
