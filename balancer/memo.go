package balancer

import (
	"hash/maphash"
	"net/netip"
	"sync/atomic"

	"github.com/geodns/geodns/zones"
)

// memoSlots sizes a snapshot's table of remembered geo decisions: the
// busy client networks of the busy services.
const memoSlots = 1 << 12

// geoMemo remembers geo decisions that depend on nothing but the client's
// GeoIP network: no network overrides, no weighted draw among several
// regions serving the client, not failing open. Such a decision is the
// same for every client of that network until the snapshot changes, and
// each snapshot has its own memo, so a hit is always what Decide would
// have answered. Direct-mapped, read and written with atomic operations.
type geoMemo struct {
	seed  maphash.Seed
	slots [memoSlots]atomic.Pointer[memoEntry]
}

type memoEntry struct {
	key memoKey
	d   Decision
}

type memoKey struct {
	svc     *zones.Service
	network netip.Prefix
}

func newGeoMemo() *geoMemo { return &geoMemo{seed: maphash.MakeSeed()} }

func (m *geoMemo) slot(k memoKey) *atomic.Pointer[memoEntry] {
	return &m.slots[maphash.Comparable(m.seed, k)&(memoSlots-1)]
}

func (m *geoMemo) get(k memoKey) (Decision, bool) {
	if e := m.slot(k).Load(); e != nil && e.key == k {
		return e.d, true
	}
	return Decision{}, false
}

func (m *geoMemo) put(k memoKey, d Decision) {
	m.slot(k).Store(&memoEntry{key: k, d: d})
}
