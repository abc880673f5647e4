package geo

import (
	"hash/maphash"
	"net/netip"
	"sync/atomic"
)

// Cache remembers recent answers of a Locator so that a burst of queries
// from one network costs one database lookup. It is direct-mapped: the
// slot of an address is a hash of its /24 (IPv4) or /56 (IPv6), and a slot
// holds one answer with the database network it is valid for. A hit needs
// that network to contain the address, so networks smaller than the slot
// prefix are never answered for their neighbours; they only share a slot.
// Lookups and stores are single atomic operations: no locks, no
// allocation on a hit. A Cache belongs to one database: a reloaded
// database gets a new Cache, which is how the cache is invalidated.
type Cache struct {
	next  Locator
	seed  maphash.Seed
	mask  uint64
	slots []atomic.Pointer[cached]
}

type cached struct {
	loc Location
	ok  bool
}

// NewCache caches the answers of next in about size slots (rounded up to a
// power of two, at least 1024).
func NewCache(next Locator, size int) *Cache {
	n := 1024
	for n < size {
		n <<= 1
	}
	return &Cache{next: next, seed: maphash.MakeSeed(), mask: uint64(n - 1), slots: make([]atomic.Pointer[cached], n)}
}

// Locate answers from the cache when it can, else from the database.
func (c *Cache) Locate(addr netip.Addr) (Location, bool) {
	slot := &c.slots[c.slot(addr)&c.mask]
	if e := slot.Load(); e != nil && e.loc.Network.Contains(addr) {
		return e.loc, e.ok
	}
	loc, ok := c.next.Locate(addr)
	// A lookup that failed is scoped to the address alone (see failed):
	// caching it would only evict a useful neighbour.
	if loc.Network.IsValid() && loc.Network.Bits() < addr.BitLen() {
		slot.Store(&cached{loc: loc, ok: ok})
	}
	return loc, ok
}

// Locator returns the cached Locator.
func (c *Cache) Locator() Locator { return c.next }

// slot hashes the /24 or /56 that holds addr.
func (c *Cache) slot(addr netip.Addr) uint64 {
	if addr.Is4() {
		a := addr.As4()
		return maphash.Comparable(c.seed, [3]byte{a[0], a[1], a[2]})
	}
	a := addr.As16()
	return maphash.Comparable(c.seed, [7]byte(a[:7]))
}
