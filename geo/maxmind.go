package geo

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
)

// DB is a Locator backed by a MaxMind-format City or Country database.
// It is safe for concurrent use; it is read-only once opened.
type DB struct {
	reader *geoip2.Reader
	// city selects the City lookup; Country databases have no location or
	// subdivision data, and their smaller record decodes faster.
	city bool
	info Info
}

// Info describes an open database, for start-up logging.
type Info struct {
	Path string
	// Type is the metadata's database_type, e.g. "GeoLite2-City" or
	// "DBIP-Country-Lite".
	Type string
	// BuildTime is the metadata's build epoch, in UTC.
	BuildTime time.Time
	// IPVersion is 4 for IPv4-only databases and 6 for databases that
	// cover both families.
	IPVersion uint
}

// Open opens the database at path. The database type must name a City or a
// Country database: those are the ones whose records hold a location.
func Open(path string) (*DB, error) {
	reader, err := geoip2.Open(path)
	if err != nil {
		// geoip2.Open hands back an open reader along with the error when
		// it does not know the database type; release the mapping now
		// rather than at garbage collection.
		if reader != nil {
			_ = reader.Close()
		}
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	md := reader.Metadata()
	db := &DB{
		reader: reader,
		info: Info{
			Path:      path,
			Type:      md.DatabaseType,
			BuildTime: md.BuildTime().UTC(),
			IPVersion: md.IPVersion,
		},
	}
	switch {
	case strings.Contains(md.DatabaseType, "City"):
		db.city = true
	case strings.Contains(md.DatabaseType, "Country"):
	default:
		_ = reader.Close()
		return nil, fmt.Errorf("geoip database %s: unsupported database type %q: need a City or Country database",
			path, md.DatabaseType)
	}
	return db, nil
}

// Info describes the database.
func (d *DB) Info() Info { return d.info }

// Close unmaps the database. Locate must not be running or called
// afterwards: the underlying reader drops its mapping without locking.
func (d *DB) Close() error {
	if err := d.reader.Close(); err != nil {
		return fmt.Errorf("geoip database %s: %w", d.info.Path, err)
	}
	return nil
}

// Locate implements Locator.
func (d *DB) Locate(addr netip.Addr) (Location, bool) {
	// The database files IPv4 under its IPv4 subtree; a v4-mapped address
	// would otherwise be looked up (and scoped) as IPv6.
	addr = addr.Unmap()

	var loc Location
	if d.city {
		rec, err := d.reader.City(addr)
		if err != nil {
			return failed(addr), false
		}
		loc = Location{
			Continent: rec.Continent.Code,
			Country:   rec.Country.ISOCode,
			Network:   rec.Traits.Network,
		}
		if len(rec.Subdivisions) > 0 {
			loc.Subdivision = rec.Subdivisions[0].ISOCode
		}
		if lat, lon := rec.Location.Latitude, rec.Location.Longitude; lat != nil && lon != nil {
			loc.Latitude, loc.Longitude, loc.HasCoordinates = *lat, *lon, true
		}
	} else {
		rec, err := d.reader.Country(addr)
		if err != nil {
			return failed(addr), false
		}
		loc = Location{
			Continent: rec.Continent.Code,
			Country:   rec.Country.ISOCode,
			Network:   rec.Traits.Network,
		}
	}
	// MaxMind and DB-IP already store upper case, for which ToUpper neither
	// copies nor allocates; this only guards the documented contract.
	loc.Country = strings.ToUpper(loc.Country)
	loc.Network = familyNetwork(addr, loc.Network)
	return loc, loc.Continent != "" || loc.Country != "" || loc.HasCoordinates
}

// failed is the answer when the lookup itself fails (an IPv6 address in an
// IPv4-only database, a corrupt or closed database): no data, scoped to the
// address alone so that nothing is cached for its neighbours.
func failed(addr netip.Addr) Location {
	return Location{Network: netip.PrefixFrom(addr, addr.BitLen())}
}

// familyNetwork returns network in addr's family. The reader reports IPv4
// networks as IPv4 prefixes, except when the database has no IPv4 subtree
// and the lookup stopped at an IPv6 node above ::/96; that node holds all of
// IPv4, so the IPv4 equivalent is /(bits-96), floored at /0.
func familyNetwork(addr netip.Addr, network netip.Prefix) netip.Prefix {
	if !addr.Is4() || network.Addr().Is4() {
		return network
	}
	return netip.PrefixFrom(addr, max(network.Bits()-96, 0)).Masked()
}
