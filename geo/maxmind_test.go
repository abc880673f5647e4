package geo

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/geoip2-golang/v2"
	"github.com/stretchr/testify/require"
)

// The fixtures are written by ../testdata/mkgeoip.
const (
	cityDB    = "../testdata/geoip-city.mmdb"
	countryDB = "../testdata/geoip-country.mmdb"
)

func openDB(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(path)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, db.Close()) })
	return db
}

// writeDB writes a database holding record for each network and returns its
// path.
func writeDB(t *testing.T, opts mmdbwriter.Options, records map[string]mmdbtype.Map) string {
	t.Helper()
	opts.IncludeReservedNetworks = true
	tree, err := mmdbwriter.New(opts)
	require.NoError(t, err)
	for network, record := range records {
		_, ipnet, err := net.ParseCIDR(network)
		require.NoError(t, err)
		require.NoError(t, tree.Insert(ipnet, record))
	}
	path := filepath.Join(t.TempDir(), "test.mmdb")
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = tree.WriteTo(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return path
}

func TestLocate(t *testing.T) {
	na := Location{Continent: "NA", Country: "US", Subdivision: "VA", Latitude: 38.9, Longitude: -77.0, HasCoordinates: true}
	de := Location{Continent: "EU", Country: "DE", Subdivision: "HE", Latitude: 50.1, Longitude: 8.7, HasCoordinates: true}
	with := func(loc Location, network string) Location {
		loc.Network = netip.MustParsePrefix(network)
		return loc
	}
	tests := []struct {
		addr string
		want Location // as the City database has it
		ok   bool
	}{
		{"127.0.0.1", with(na, "127.0.0.0/8"), true},
		{"192.0.2.1", with(na, "192.0.2.0/24"), true},
		{"198.51.100.7", with(de, "198.51.100.0/24"), true},
		{"::ffff:198.51.100.7", with(de, "198.51.100.0/24"), true},
		{"203.0.113.200", Location{
			Continent: "AS", Country: "JP", Subdivision: "13",
			Latitude: 35.7, Longitude: 139.7, HasCoordinates: true,
			Network: netip.MustParsePrefix("203.0.113.0/24"),
		}, true},
		{"198.18.5.1", Location{
			Continent: "OC", Country: "AU", Subdivision: "NSW",
			Latitude: -33.9, Longitude: 151.2, HasCoordinates: true,
			Network: netip.MustParsePrefix("198.18.0.0/15"),
		}, true},
		{"2001:db8::1", Location{
			Continent: "EU", Country: "GB", Subdivision: "ENG",
			Latitude: 51.5, Longitude: -0.1, HasCoordinates: true,
			Network: netip.MustParsePrefix("2001:db8::/32"),
		}, true},
		{"::1", Location{
			Continent: "NA", Country: "US",
			Latitude: 38.9, Longitude: -77.0, HasCoordinates: true,
			Network: netip.MustParsePrefix("::1/128"),
		}, true},
		// Misses still carry the empty network around the address. The
		// MaxMind layout files ::1 under IPv4 0.0.0.1, which is why 8.8.8.8
		// shares an empty /5 rather than a /1.
		{"8.8.8.8", Location{Network: netip.MustParsePrefix("8.0.0.0/5")}, false},
		{"::ffff:8.8.8.8", Location{Network: netip.MustParsePrefix("8.0.0.0/5")}, false},
		{"2001:db9::1", Location{Network: netip.MustParsePrefix("2001:db9::/32")}, false},
	}
	for _, db := range []struct {
		path string
		city bool
	}{{cityDB, true}, {countryDB, false}} {
		d := openDB(t, db.path)
		for _, tt := range tests {
			t.Run(filepath.Base(db.path)+"/"+tt.addr, func(t *testing.T) {
				want := tt.want
				if !db.city {
					want.Subdivision = ""
					want.Latitude, want.Longitude, want.HasCoordinates = 0, 0, false
				}
				got, ok := d.Locate(netip.MustParseAddr(tt.addr))
				require.Equal(t, tt.ok, ok)
				require.Equal(t, want, got)
				require.Positive(t, got.Network.Bits())
			})
		}
	}
}

// Without IPv4 aliasing or IPv4 data the database has no ::/96 node, the
// reader stops above it and reports an IPv6 prefix for IPv4 lookups.
func TestLocateNoIPv4Subtree(t *testing.T) {
	// Lower case, to check that Country comes out upper case regardless.
	path := writeDB(t, mmdbwriter.Options{DatabaseType: "GeoLite2-Country", DisableIPv4Aliasing: true},
		map[string]mmdbtype.Map{"2001:db8::/32": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("gb")}}})
	d := openDB(t, path)

	for _, addr := range []string{"8.8.8.8", "::ffff:8.8.8.8"} {
		loc, ok := d.Locate(netip.MustParseAddr(addr))
		require.False(t, ok, addr)
		require.Equal(t, netip.MustParsePrefix("0.0.0.0/0"), loc.Network, addr)
	}
	loc, ok := d.Locate(netip.MustParseAddr("2001:db8::1"))
	require.True(t, ok)
	require.Equal(t, Location{Country: "GB", Network: netip.MustParsePrefix("2001:db8::/32")}, loc)
}

func TestLocateIPv6InIPv4Database(t *testing.T) {
	path := writeDB(t, mmdbwriter.Options{DatabaseType: "GeoLite2-Country", IPVersion: 4},
		map[string]mmdbtype.Map{"192.0.2.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("US")}}})
	d := openDB(t, path)

	loc, ok := d.Locate(netip.MustParseAddr("192.0.2.1"))
	require.True(t, ok)
	require.Equal(t, Location{Country: "US", Network: netip.MustParsePrefix("192.0.2.0/24")}, loc)

	// The reader refuses IPv6 lookups here; the miss is scoped to the
	// address alone.
	loc, ok = d.Locate(netip.MustParseAddr("2001:db8::1"))
	require.False(t, ok)
	require.Equal(t, Location{Network: netip.MustParsePrefix("2001:db8::1/128")}, loc)
}

func TestOpenErrors(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.mmdb")
		_, err := Open(path)
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.ErrorContains(t, err, "geoip database "+path)
	})
	t.Run("not mmdb", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "garbage.mmdb")
		require.NoError(t, os.WriteFile(path, []byte("this is not a MaxMind database\n"), 0o600))
		_, err := Open(path)
		require.ErrorContains(t, err, "geoip database "+path)
		require.ErrorContains(t, err, "invalid MaxMind DB file")
	})
	t.Run("not city or country", func(t *testing.T) {
		// geoip2 knows this type, so the rejection is ours.
		path := writeDB(t, mmdbwriter.Options{DatabaseType: "GeoLite2-ASN"},
			map[string]mmdbtype.Map{"192.0.2.0/24": {"autonomous_system_number": mmdbtype.Uint32(64496)}})
		_, err := Open(path)
		require.ErrorContains(t, err, "geoip database "+path)
		require.ErrorContains(t, err, `unsupported database type "GeoLite2-ASN"`)
	})
	t.Run("unknown to geoip2", func(t *testing.T) {
		path := writeDB(t, mmdbwriter.Options{DatabaseType: "Acme-City"},
			map[string]mmdbtype.Map{"192.0.2.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("US")}}})
		_, err := Open(path)
		require.ErrorContains(t, err, "geoip database "+path)
		var unknown geoip2.UnknownDatabaseTypeError
		require.True(t, errors.As(err, &unknown), "%v", err)
		require.Equal(t, "Acme-City", unknown.DatabaseType)
	})
}

func TestInfo(t *testing.T) {
	built := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, Info{Path: cityDB, Type: "GeoIP2-City", BuildTime: built, IPVersion: 6}, openDB(t, cityDB).Info())
	require.Equal(t, Info{Path: countryDB, Type: "GeoIP2-Country", BuildTime: built, IPVersion: 6}, openDB(t, countryDB).Info())
}

func TestLocateConcurrent(t *testing.T) {
	var d Locator = openDB(t, cityDB)
	addrs := []netip.Addr{
		netip.MustParseAddr("198.51.100.7"),
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("8.8.8.8"),
	}
	done := make(chan Location)
	for i := range 8 {
		go func() {
			var loc Location
			for j := range 1000 {
				loc, _ = d.Locate(addrs[(i+j)%len(addrs)])
			}
			done <- loc
		}()
	}
	for range 8 {
		require.True(t, (<-done).Network.IsValid())
	}
}

func BenchmarkLocate(b *testing.B) {
	for _, path := range []string{cityDB, countryDB} {
		d := openDB(b, path)
		for _, bc := range []struct{ name, addr string }{
			{"ipv4-hit", "198.51.100.7"},
			{"ipv6-hit", "2001:db8::1"},
			{"miss", "8.8.8.8"},
		} {
			addr := netip.MustParseAddr(bc.addr)
			b.Run(filepath.Base(path)+"/"+bc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					d.Locate(addr)
				}
			})
		}
	}
}
