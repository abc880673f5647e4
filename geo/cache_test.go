package geo

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// countingLocator answers from a fixed table of networks, the most
// specific first as a database trie does, and counts calls.
type countingLocator struct {
	nets  map[netip.Prefix]Location
	calls atomic.Int64
}

func (l *countingLocator) Locate(addr netip.Addr) (Location, bool) {
	l.calls.Add(1)
	best, found := netip.Prefix{}, false
	for p := range l.nets {
		if p.Contains(addr) && (!found || p.Bits() > best.Bits()) {
			best, found = p, true
		}
	}
	if !found {
		return failed(addr), false
	}
	loc := l.nets[best]
	loc.Network = best
	return loc, true
}

func TestCache(t *testing.T) {
	backend := &countingLocator{nets: map[netip.Prefix]Location{
		netip.MustParsePrefix("10.0.0.0/8"):        {Country: "US"},
		netip.MustParsePrefix("192.0.2.0/25"):      {Country: "DE"},
		netip.MustParsePrefix("192.0.2.128/25"):    {Country: "JP"},
		netip.MustParsePrefix("2001:db8::/32"):     {Country: "GB"},
		netip.MustParsePrefix("2001:db8:1::1/128"): {Country: "FR"},
	}}
	c := NewCache(backend, 0)
	steps := []struct {
		addr    string
		country string
		ok      bool
		lookups int64 // backend calls so far
	}{
		{"10.1.2.3", "US", true, 1},
		{"10.1.2.200", "US", true, 1},     // same /24: hit
		{"10.1.2.3", "US", true, 1},       // hit
		{"192.0.2.1", "DE", true, 2},      // a /25 ...
		{"192.0.2.200", "JP", true, 3},    // ... never answers for its neighbour
		{"192.0.2.201", "JP", true, 3},    // the neighbour now holds the slot
		{"2001:db8::1", "GB", true, 4},    //
		{"2001:db8::ffff", "GB", true, 4}, // same /56: hit
		{"2001:db8:1::1", "FR", true, 5},  // a /128: looked up, never cached
		{"2001:db8:1::1", "FR", true, 6},
		{"203.0.113.1", "", false, 7}, // failed lookups are not cached
		{"203.0.113.1", "", false, 8},
	}
	for _, s := range steps {
		loc, ok := c.Locate(netip.MustParseAddr(s.addr))
		require.Equal(t, s.country, loc.Country, s.addr)
		require.Equal(t, s.ok, ok, s.addr)
		require.True(t, loc.Network.Contains(netip.MustParseAddr(s.addr)), s.addr)
		require.Equal(t, s.lookups, backend.calls.Load(), s.addr)
	}
}

func TestCacheSameAsDatabase(t *testing.T) {
	db := openDB(t, cityDB)
	c := NewCache(db, 1)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				addrs := []netip.Addr{
					netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
					netip.AddrFrom4([4]byte{203, 0, 113, byte(i + w)}),
					netip.AddrFrom4([4]byte{8, 8, byte(i), byte(w)}),
					netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}),
				}
				for _, a := range addrs {
					want, wantOK := db.Locate(a)
					got, gotOK := c.Locate(a)
					if want != got || wantOK != gotOK {
						t.Errorf("%s: cache %+v %v, database %+v %v", a, got, gotOK, want, wantOK)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkCacheLocate(b *testing.B) {
	c := NewCache(openDB(b, cityDB), 1<<16)
	for _, addr := range []string{"198.51.100.7", "2001:db8::1"} {
		a := netip.MustParseAddr(addr)
		b.Run(addr, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Locate(a)
			}
		})
	}
}
