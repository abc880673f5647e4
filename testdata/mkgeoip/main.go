// Command mkgeoip writes the small GeoIP test fixtures used by the geo
// package and the server tests: one database in the GeoIP2 City schema and
// one in the GeoIP2 Country schema, both covering the same handful of
// documentation, benchmarking and loopback networks.
//
// Run it from the module root:
//
//	go run ./testdata/mkgeoip -city testdata/geoip-city.mmdb -country testdata/geoip-country.mmdb
//
// Either flag may be omitted to write only one file. The output is
// byte-for-byte deterministic (fixed build epoch, sorted map keys), so
// regenerating the committed fixtures only changes them when this program
// changes.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// buildEpoch is fixed (2026-01-01T00:00:00Z) rather than "now" so that the
// fixtures are reproducible.
const buildEpoch = 1767225600

// place is what the fixtures say about one network.
type place struct {
	network       string
	continent     string
	continentName string
	country       string
	countryName   string
	lat, lon      float64
	subdivision   string // ISO 3166-2 subdivision code without the country; "" for none
}

// fixtures is the data both databases are built from.
func fixtures() []place {
	return []place{
		// Loopback clients (dig @127.0.0.1) look North American.
		{"127.0.0.0/8", "NA", "North America", "US", "United States", 38.9, -77.0, "VA"},
		{"192.0.2.0/24", "NA", "North America", "US", "United States", 38.9, -77.0, "VA"},
		{"198.51.100.0/24", "EU", "Europe", "DE", "Germany", 50.1, 8.7, "HE"},
		{"203.0.113.0/24", "AS", "Asia", "JP", "Japan", 35.7, 139.7, "13"},
		// Wider than a /24 so that ECS scope tests see a /24 inside a /15.
		{"198.18.0.0/15", "OC", "Oceania", "AU", "Australia", -33.9, 151.2, "NSW"},
		{"2001:db8::/32", "EU", "Europe", "GB", "United Kingdom", 51.5, -0.1, "ENG"},
		{"::1/128", "NA", "North America", "US", "United States", 38.9, -77.0, ""},
	}
}

func main() {
	city := flag.String("city", "", "write a GeoIP2-City database to this `path`")
	country := flag.String("country", "", "write a GeoIP2-Country database to this `path`")
	flag.Parse()
	if *city == "" && *country == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*city, *country); err != nil {
		fmt.Fprintln(os.Stderr, "mkgeoip:", err)
		os.Exit(1)
	}
}

func run(cityPath, countryPath string) error {
	if cityPath != "" {
		if err := write(cityPath, "GeoIP2-City", cityRecord); err != nil {
			return err
		}
	}
	if countryPath != "" {
		if err := write(countryPath, "GeoIP2-Country", countryRecord); err != nil {
			return err
		}
	}
	return nil
}

func write(path, dbType string, record func(place) mmdbtype.Map) (err error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: dbType,
		Description:  map[string]string{"en": "geodns test fixture"},
		BuildEpoch:   buildEpoch,
		// The fixture networks are all documentation, benchmarking or
		// loopback ranges, which the writer refuses by default.
		IncludeReservedNetworks: true,
		RecordSize:              28,
		Languages:               []string{"en"},
	})
	if err != nil {
		return err
	}
	for _, p := range fixtures() {
		_, network, err := net.ParseCIDR(p.network)
		if err != nil {
			return err
		}
		if err := tree.Insert(network, record(p)); err != nil {
			return fmt.Errorf("%s: insert %s: %w", path, p.network, err)
		}
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if _, err := tree.WriteTo(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// countryRecord is the GeoIP2 Country schema subset the fixtures use.
func countryRecord(p place) mmdbtype.Map {
	return mmdbtype.Map{
		"continent": mmdbtype.Map{
			"code":  mmdbtype.String(p.continent),
			"names": mmdbtype.Map{"en": mmdbtype.String(p.continentName)},
		},
		"country": mmdbtype.Map{
			"iso_code": mmdbtype.String(p.country),
			"names":    mmdbtype.Map{"en": mmdbtype.String(p.countryName)},
		},
	}
}

// cityRecord adds the City schema's location and subdivisions.
func cityRecord(p place) mmdbtype.Map {
	m := countryRecord(p)
	m["location"] = mmdbtype.Map{
		"latitude":  mmdbtype.Float64(p.lat),
		"longitude": mmdbtype.Float64(p.lon),
	}
	if p.subdivision != "" {
		m["subdivisions"] = mmdbtype.Slice{
			mmdbtype.Map{"iso_code": mmdbtype.String(p.subdivision)},
		}
	}
	return m
}
