// Package geo answers "where is this client?" from a MaxMind-format
// database (GeoLite2/GeoIP2 City or Country, or DB-IP's City/Country files,
// which share the schema). It knows nothing of DNS: callers hand it an
// address and get a Location back.
package geo

import "net/netip"

// Location is what the database says about one address.
type Location struct {
	// Continent is the two-letter continent code (NA, EU, AS, ...).
	Continent string
	// Country is the ISO 3166-1 alpha-2 code, upper case.
	Country string
	// Subdivision is the ISO 3166-2 code of the largest subdivision as the
	// database stores it: without the country prefix ("VA", not "US-VA").
	Subdivision string
	// Latitude and Longitude are valid when HasCoordinates is true.
	Latitude, Longitude float64
	HasCoordinates      bool
	// Network is the database network that holds the address; its prefix
	// length is the ECS scope of an answer decided by this location.
	Network netip.Prefix
}

// Locator looks addresses up. Implementations are safe for concurrent use.
type Locator interface {
	// Locate returns the location of addr; ok is false when the database
	// has no data for it. Network is set in both cases (the database
	// network that holds addr, with or without data), so a negative answer
	// still has a scope.
	Locate(addr netip.Addr) (loc Location, ok bool)
}
