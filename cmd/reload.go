package cmd

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/geo"
	"github.com/geodns/geodns/zones"
)

// reloadDebounce is how long the files must stay quiet before a reload:
// an editor's save or geoipupdate's write-and-rename is several events.
const reloadDebounce = 200 * time.Millisecond

// geoCloseGrace is how long a replaced GeoIP database stays open. geo.DB
// Close unmaps the file without locking, so it must not run while a query
// that loaded the previous snapshot is still looking an address up; a
// lookup takes microseconds, so a few seconds leave a wide margin without
// counting readers on the query path.
const geoCloseGrace = 5 * time.Second

// ReloadStats counts reloads of the zone files and of the GeoIP database,
// for logs and metrics. Its fields are safe for concurrent use.
type ReloadStats struct {
	ZoneSuccess atomic.Uint64
	ZoneFailure atomic.Uint64
	GeoSuccess  atomic.Uint64
	GeoFailure  atomic.Uint64
	// lastSuccess is the Unix time in nanoseconds of the last successful
	// zone reload; 0 means none yet.
	lastSuccess atomic.Int64
}

// LastSuccess returns when the zone files were last reloaded successfully;
// the zero time means never since start-up.
func (st *ReloadStats) LastSuccess() time.Time {
	ns := st.lastSuccess.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// reloader reloads the zone files on SIGHUP and when the zones directory
// changes, and reopens the GeoIP database when its file is replaced. It
// owns the GeoIP database from start-up on.
type reloader struct {
	Stats ReloadStats

	zonesDir string
	extra    []*zones.Region
	geoPath  string // cleaned --geoip, "" without a database
	store    *balancer.Store
	ctl      *balancer.Control
	log      zerolog.Logger

	mu sync.Mutex // serialises reloads

	geoMu   sync.Mutex
	geoDB   *geo.DB                 // the database in force
	retired map[*geo.DB]*time.Timer // replaced, closing after the grace
	closed  bool

	hup     chan os.Signal
	watcher *fsnotify.Watcher
	done    chan struct{}
}

// startReloader starts watching for SIGHUP and for changes of the zone
// files and the GeoIP database until ctx ends. A directory that cannot be
// watched is logged and leaves SIGHUP working.
func startReloader(ctx context.Context, s settings, store *balancer.Store, ctl *balancer.Control, log zerolog.Logger) *reloader {
	r := &reloader{
		zonesDir: s.ZonesDir,
		extra:    s.RegionalEndpoints,
		store:    store,
		ctl:      ctl,
		log:      log.With().Str("component", "reload").Logger(),
		retired:  map[*geo.DB]*time.Timer{},
		hup:      make(chan os.Signal, 1),
		done:     make(chan struct{}),
	}
	if c, ok := store.Load().Geo.(*geo.Cache); ok && s.GeoIP != "" {
		r.geoPath, r.geoDB = filepath.Clean(s.GeoIP), c.Locator().(*geo.DB)
	}
	// Registered before start returns, so a SIGHUP sent once the server
	// is up never meets the default action (exit).
	signal.Notify(r.hup, syscall.SIGHUP)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn().Err(err).Msg("cannot watch files: reload with SIGHUP")
	} else {
		r.watcher = w
		if err := w.Add(r.zonesDir); err != nil {
			r.log.Warn().Err(err).Str("dir", r.zonesDir).Msg("cannot watch the zones directory: reload with SIGHUP")
		}
		if r.geoPath != "" {
			if err := w.Add(filepath.Dir(r.geoPath)); err != nil {
				r.log.Warn().Err(err).Str("path", r.geoPath).Msg("cannot watch the GeoIP database: it is not reopened when replaced")
			}
		}
	}
	go r.run(ctx)
	return r
}

func (r *reloader) run(ctx context.Context) {
	defer close(r.done)
	defer signal.Stop(r.hup)
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if r.watcher != nil {
		defer r.watcher.Close()
		events, errs = r.watcher.Events, r.watcher.Errors
	}
	zoneTimer, geoTimer := time.NewTimer(time.Hour), time.NewTimer(time.Hour)
	zoneTimer.Stop()
	geoTimer.Stop()
	defer zoneTimer.Stop()
	defer geoTimer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.hup:
			r.ReloadZones("SIGHUP")
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			switch {
			case r.isGeoEvent(ev):
				geoTimer.Reset(reloadDebounce)
			case r.isZoneEvent(ev):
				zoneTimer.Reset(reloadDebounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.log.Warn().Err(err).Msg("file watch")
		case <-zoneTimer.C:
			r.ReloadZones("zones directory changed")
		case <-geoTimer.C:
			r.ReloadGeo()
		}
	}
}

// isZoneEvent tells whether ev may change what LoadDir reads: a zone file
// (not a hidden one, nor an editor's temporary file) directly in the
// zones directory.
func (r *reloader) isZoneEvent(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod || filepath.Clean(filepath.Dir(ev.Name)) != filepath.Clean(r.zonesDir) {
		return false
	}
	name := filepath.Base(ev.Name)
	return (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "#")
}

// isGeoEvent tells whether ev put a new file at the database's path:
// geoipupdate writes a temporary file and renames it over the old one,
// which is a Create of the name; a rewrite in place is a Write.
func (r *reloader) isGeoEvent(ev fsnotify.Event) bool {
	return r.geoPath != "" && filepath.Clean(ev.Name) == r.geoPath && ev.Has(fsnotify.Create|fsnotify.Write)
}

// ReloadZones reads the zone files again and publishes them with the
// runtime state applied, in one snapshot swap. On error the previous
// zones stay in force. Health checks follow the new regions through
// ctl.OnRegions.
func (r *reloader) ReloadZones(cause string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	set, err := zones.LoadDir(r.zonesDir, r.extra)
	if err != nil {
		r.Stats.ZoneFailure.Add(1)
		ev := r.log.Error().Err(err).Str("cause", cause).Str("dir", r.zonesDir)
		var le *zones.LoadError
		if errors.As(err, &le) && len(le.Errors) > 0 {
			ev = ev.Str("file", le.Errors[0].File).Int("line", le.Errors[0].Line).Int("problems", len(le.Errors))
		}
		ev.Msg("zone reload failed: still serving the previous zones")
		return err
	}
	if err := r.ctl.Reload(set); err != nil {
		r.log.Warn().Err(err).Msg("runtime state partly left out: it no longer fits the zone files")
	}
	r.Stats.ZoneSuccess.Add(1)
	r.Stats.lastSuccess.Store(time.Now().UnixNano())
	r.log.Info().Str("cause", cause).Int("zones", len(set.Zones)).Int("regions", len(set.RegionNames)).
		Dur("took", time.Since(start)).Msg("zones reloaded")
	return nil
}

// ReloadGeo opens the GeoIP database again and publishes it; the previous
// one is closed after geoCloseGrace. A database that cannot be opened
// leaves the previous one in force.
func (r *reloader) ReloadGeo() error {
	if r.geoPath == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	db, err := geo.Open(r.geoPath)
	if err != nil {
		r.Stats.GeoFailure.Add(1)
		r.log.Error().Err(err).Str("path", r.geoPath).Msg("GeoIP reload failed: still using the previous database")
		return err
	}
	r.geoMu.Lock()
	defer r.geoMu.Unlock()
	if r.closed {
		db.Close()
		return nil
	}
	old := r.geoDB
	r.geoDB = db
	r.store.Update(func(s *balancer.Snapshot) { s.Geo = cachedLocator(db) })
	if old != nil {
		r.retired[old] = time.AfterFunc(geoCloseGrace, func() { r.closeRetired(old) })
	}
	r.Stats.GeoSuccess.Add(1)
	info := db.Info()
	r.log.Info().Str("path", info.Path).Str("type", info.Type).Time("built", info.BuildTime).Msg("GeoIP database reloaded")
	return nil
}

func (r *reloader) closeRetired(db *geo.DB) {
	r.geoMu.Lock()
	defer r.geoMu.Unlock()
	if _, ok := r.retired[db]; !ok {
		return
	}
	delete(r.retired, db)
	if err := db.Close(); err != nil {
		r.log.Warn().Err(err).Msg("closing the previous GeoIP database")
	}
}

// close waits for the reloader to stop (its context must have ended) and
// closes every GeoIP database it holds. Queries must be over: call it
// after the DNS and API servers have shut down.
func (r *reloader) close() {
	<-r.done
	r.geoMu.Lock()
	defer r.geoMu.Unlock()
	r.closed = true
	for db, t := range r.retired {
		t.Stop()
		db.Close()
	}
	clear(r.retired)
	if r.geoDB != nil {
		r.geoDB.Close()
		r.geoDB = nil
	}
}
