package dns

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
)

// Response rate limiting (RRL), as Knot's mod-rrl and BIND's rate-limit:
// responses sent over UDP are counted per client prefix and per kind of
// response in token buckets; over the limit every Slip-th response is an
// empty TC=1 answer (a real resolver retries over TCP) and the rest are
// dropped. TCP is never limited.

// RRLConfig configures a response rate limiter.
type RRLConfig struct {
	// Rate is the number of responses per second allowed per bucket
	// (client prefix and kind of response); 0 turns limiting off.
	Rate int
	// Burst is how many responses a bucket may send at once (default Rate).
	Burst int
	// Slip: over the limit, every Slip-th response is sent as an empty
	// TC=1 answer and the others are dropped; 0 drops every one, 1
	// slips every one.
	Slip int
	// IPv4Prefix and IPv6Prefix group clients (default 24 and 56).
	IPv4Prefix int
	IPv6Prefix int
	// Whitelist prefixes are never limited.
	Whitelist []netip.Prefix
	// LogInterval is the least time between two warnings for one client
	// prefix (default 10s).
	LogInterval time.Duration
	// Buckets is the size of the table (default 65536, rounded up to a
	// multiple of the shard and set sizes); memory is fixed at start.
	Buckets int
}

// DefaultRRLSlip is the default slip: every second limited response is
// sent truncated.
const DefaultRRLSlip = 2

// RRLAction is what to do with one UDP response.
type RRLAction uint8

const (
	// RRLAllow sends the response.
	RRLAllow RRLAction = iota
	// RRLSlip sends an empty truncated response instead (see Slipped).
	RRLSlip
	// RRLDrop sends nothing.
	RRLDrop
)

// RRLStats are the limiter's counters since it started. Limited is
// Slipped + Dropped.
type RRLStats struct {
	Limited uint64
	Slipped uint64
	Dropped uint64
}

const (
	rrlShards  = 64   // power of two
	rrlWays    = 4    // buckets per set: a key lives in one set of its shard
	rrlLogSets = 1024 // sets of the warning table, rrlWays prefixes each
)

// Response classes: one bucket per class, so an attacker cannot spend a
// real answer's budget with NXDOMAINs and the reverse.
const (
	classAnswer byte = iota + 1
	classNoData
	classNXDomain
	classRefused
	classError
)

// RRL is a response rate limiter. It is safe for concurrent use and takes
// no global lock: buckets live in a fixed table of shards, each with its
// own mutex. A nil *RRL allows everything.
type RRL struct {
	interval  int64 // ns between two responses at the limit
	tolerance int64 // ns of credit a full bucket holds (Burst*interval)
	slip      uint32
	v4, v6    int
	whitelist []netip.Prefix
	logEvery  int64
	rate      int
	seed      maphash.Seed
	sets      uint64 // sets per shard, a power of two
	now       func() int64
	log       zerolog.Logger

	shards [rrlShards]rrlShard
	logged [rrlLogSets]rrlLogSet // when each limited prefix may be logged again

	limited, slipped, dropped atomic.Uint64
}

// rrlLogSet remembers up to rrlWays prefixes logged recently.
type rrlLogSet struct {
	mu   sync.Mutex
	ways [rrlWays]struct {
		prefix netip.Prefix
		next   int64 // time its next warning may be logged
	}
}

type rrlShard struct {
	mu      sync.Mutex
	buckets []rrlBucket
	_       [32]byte // keep neighbouring shards' mutexes off one cache line
}

type rrlBucket struct {
	key  uint64
	tat  int64 // theoretical arrival time (GCRA): the bucket is full when tat <= now
	slip uint32
}

// NewRRL returns a limiter for cfg, or nil (no limiting) when cfg.Rate is 0.
func NewRRL(cfg RRLConfig, log zerolog.Logger) (*RRL, error) {
	if cfg.Rate == 0 {
		return nil, nil
	}
	if cfg.Rate < 0 || cfg.Rate > 1_000_000 {
		return nil, fmt.Errorf("rrl rate %d: must be 0 (off) to 1000000", cfg.Rate)
	}
	if cfg.Burst == 0 {
		cfg.Burst = cfg.Rate
	}
	if cfg.Burst < 0 || cfg.Burst > 1_000_000 {
		return nil, fmt.Errorf("rrl burst %d: must be 1 to 1000000", cfg.Burst)
	}
	if cfg.Slip < 0 || cfg.Slip > 100 {
		return nil, fmt.Errorf("rrl slip %d: must be 0 to 100", cfg.Slip)
	}
	if cfg.IPv4Prefix == 0 {
		cfg.IPv4Prefix = 24
	}
	if cfg.IPv6Prefix == 0 {
		cfg.IPv6Prefix = 56
	}
	if cfg.IPv4Prefix < 1 || cfg.IPv4Prefix > 32 {
		return nil, fmt.Errorf("rrl ipv4 prefix %d: must be 1 to 32", cfg.IPv4Prefix)
	}
	if cfg.IPv6Prefix < 1 || cfg.IPv6Prefix > 128 {
		return nil, fmt.Errorf("rrl ipv6 prefix %d: must be 1 to 128", cfg.IPv6Prefix)
	}
	for _, p := range cfg.Whitelist {
		if !p.IsValid() {
			return nil, errors.New("rrl whitelist: invalid prefix")
		}
	}
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = 10 * time.Second
	}
	if cfg.Buckets <= 0 {
		cfg.Buckets = 65536
	}
	sets := uint64(1)
	for sets*rrlShards*rrlWays < uint64(cfg.Buckets) {
		sets <<= 1
	}
	interval := int64(time.Second) / int64(cfg.Rate)
	start := time.Now()
	l := &RRL{
		interval:  interval,
		tolerance: interval * int64(cfg.Burst),
		slip:      uint32(cfg.Slip),
		v4:        cfg.IPv4Prefix,
		v6:        cfg.IPv6Prefix,
		whitelist: make([]netip.Prefix, len(cfg.Whitelist)),
		logEvery:  int64(cfg.LogInterval),
		rate:      cfg.Rate,
		seed:      maphash.MakeSeed(),
		sets:      sets,
		// Monotonic, and never 0 so that an unused bucket (tat 0) is full.
		now: func() int64 { return int64(time.Since(start)) + int64(time.Hour) },
		log: log,
	}
	for i, p := range cfg.Whitelist {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		l.whitelist[i] = p.Masked()
	}
	for i := range l.shards {
		l.shards[i].buckets = make([]rrlBucket, sets*rrlWays)
	}
	return l, nil
}

// Stats returns the counters (zero for a nil limiter).
func (l *RRL) Stats() RRLStats {
	if l == nil {
		return RRLStats{}
	}
	s, d := l.slipped.Load(), l.dropped.Load()
	return RRLStats{Limited: l.limited.Load(), Slipped: s, Dropped: d}
}

// Check decides what to do with response m, about to be sent over UDP to
// src. A nil limiter allows everything.
func (l *RRL) Check(src netip.Addr, m *dns.Msg) RRLAction {
	if l == nil || m == nil {
		return RRLAllow
	}
	var buf [rrlResponseLen]byte
	return l.check(src, rrlResponse(buf[:0], m))
}

// rrlResponseLen bounds what rrlResponse appends.
const rrlResponseLen = 1 + 2 + 255

// rrlResponse appends the response part of m's bucket key: its class,
// qtype and name, lower-cased (see classify).
func rrlResponse(buf []byte, m *dns.Msg) []byte {
	class, qtype, name := classify(m)
	buf = append(buf, class, byte(qtype>>8), byte(qtype))
	for i := 0; i < len(name) && len(buf) < rrlResponseLen; i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// check is Check for a response whose bucket key part (rrlResponse) is
// known already, as it is for cached answers.
func (l *RRL) check(src netip.Addr, resp []byte) RRLAction {
	src = src.Unmap()
	for _, p := range l.whitelist {
		if p.Contains(src) {
			return RRLAllow
		}
	}
	bits := l.v6
	if src.Is4() {
		bits = l.v4
	}
	prefix, err := src.Prefix(bits)
	if err != nil { // invalid address: nothing to key on
		return RRLAllow
	}

	// Key: client prefix, then the response part.
	var buf [16 + 1 + rrlResponseLen]byte
	a := prefix.Addr().As16()
	k := copy(buf[:], a[:])
	buf[k] = byte(bits)
	k += 1 + copy(buf[k+1:], resp)
	h := maphash.Bytes(l.seed, buf[:k])

	limited, slip := l.take(h)
	if !limited {
		return RRLAllow
	}
	l.limited.Add(1)
	l.warn(maphash.Bytes(l.seed, buf[:17]), prefix)
	if slip {
		l.slipped.Add(1)
		return RRLSlip
	}
	l.dropped.Add(1)
	return RRLDrop
}

func (l *RRL) take(h uint64) (limited, slip bool) {
	now := l.now()
	sh := &l.shards[h&(rrlShards-1)]
	set := ((h >> 6) & (l.sets - 1)) * rrlWays
	sh.mu.Lock()
	ways := sh.buckets[set : set+rrlWays : set+rrlWays]
	b := &ways[0]
	for i := range ways {
		if ways[i].key == h {
			b = &ways[i]
			goto found
		}
	}
	// Not there: replace the set's bucket closest to full; one that is
	// full (tat <= now) holds no state worth keeping.
	for i := 1; i < len(ways); i++ {
		if ways[i].tat < b.tat {
			b = &ways[i]
		}
	}
	*b = rrlBucket{key: h}
found:
	t := max(b.tat, now)
	if t+l.interval-now <= l.tolerance {
		b.tat = t + l.interval
		b.slip = 0
		sh.mu.Unlock()
		return false, false
	}
	b.slip++
	slip = l.slip != 0 && b.slip%l.slip == 0
	sh.mu.Unlock()
	return true, slip
}

// warn logs a limited prefix at most once per interval. The table is
// bounded: a prefix whose set is full of prefixes logged within the
// interval goes unlogged rather than evicting one (which could then be
// logged twice). Only limited responses get here, so the set's lock is
// never taken on the normal query path.
func (l *RRL) warn(h uint64, prefix netip.Prefix) {
	set := &l.logged[h%rrlLogSets]
	now := l.now()
	set.mu.Lock()
	free := -1
	for i := range set.ways {
		w := &set.ways[i]
		if w.prefix == prefix {
			if now < w.next {
				set.mu.Unlock()
				return
			}
			free = i
			break
		}
		if free < 0 && now >= w.next {
			free = i
		}
	}
	if free < 0 {
		set.mu.Unlock()
		return
	}
	set.ways[free].prefix, set.ways[free].next = prefix, now+l.logEvery
	set.mu.Unlock()
	l.log.Warn().Str("prefix", prefix.String()).Int("rate", l.rate).Msg("response rate limit exceeded")
}

// classify returns the response class of m and the qtype and name its
// bucket is keyed on: answers and NODATA by query name and type, NXDOMAIN
// by zone (the SOA's owner), referrals by the zone cut, REFUSED and
// errors by client prefix alone.
func classify(m *dns.Msg) (class byte, qtype uint16, name string) {
	switch m.Rcode {
	case dns.RcodeSuccess:
		if len(m.Question) == 0 {
			return classError, 0, ""
		}
		q := m.Question[0]
		if len(m.Answer) > 0 {
			return classAnswer, q.Qtype, q.Name
		}
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeNS { // referral
				return classAnswer, dns.TypeNS, rr.Header().Name
			}
		}
		return classNoData, q.Qtype, q.Name
	case dns.RcodeNameError:
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeSOA {
				return classNXDomain, 0, rr.Header().Name
			}
		}
		if len(m.Question) > 0 {
			return classNXDomain, 0, m.Question[0].Name
		}
		return classNXDomain, 0, ""
	case dns.RcodeRefused:
		return classRefused, 0, ""
	}
	return classError, 0, ""
}

// Slipped is the TC=1 response sent instead of m when it is slipped: m's
// header and question, nothing else, so the client retries over TCP.
func Slipped(m *dns.Msg) *dns.Msg {
	tc := &dns.Msg{MsgHdr: m.MsgHdr, Question: m.Question}
	tc.Truncated = true
	return tc
}
