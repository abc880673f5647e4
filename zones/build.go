package zones

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// builder collects a Set and the problems found across files.
type builder struct {
	set  *Set
	errs []FileError
	// Where each zone and region was first defined, for duplicates.
	zoneAt   map[string]string
	regionAt map[string]string
}

// Build checks what needs all the files of a directory together (duplicate
// zones and regions, the regions services name) and builds the Set. extra
// regions, from the environment, are added under names no file defines:
// a file's definition wins. The files must come from ParseFile. The error,
// if any, is a *LoadError.
func Build(files []*File, extra []*Region) (*Set, error) {
	b := &builder{
		set:      &Set{Regions: map[string]*Region{}},
		zoneAt:   map[string]string{},
		regionAt: map[string]string{},
	}
	for _, f := range files {
		b.addFile(f)
	}
	for _, r := range extra {
		if _, defined := b.set.Regions[r.Name]; !defined {
			b.set.Regions[r.Name] = r
		}
	}
	b.set.RegionNames = slices.Sorted(maps.Keys(b.set.Regions))
	for _, f := range files {
		b.checkRefs(f)
		b.checkServices(f)
	}
	if len(b.errs) > 0 {
		return nil, newLoadError(b.errs)
	}
	sortZones(b.set.Zones)
	return b.set, nil
}

func (b *builder) errorf(file string, line int, format string, args ...any) {
	b.errs = append(b.errs, FileError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// addFile adds a file's zone and regions, refusing names defined before.
func (b *builder) addFile(f *File) {
	origin := f.Zone.Origin
	if at, dup := b.zoneAt[origin]; dup {
		b.errorf(f.Name, f.zoneLine, "zone %s is already defined at %s", origin, at)
	} else {
		b.zoneAt[origin] = fmt.Sprintf("%s:%d", f.Name, f.zoneLine)
		b.set.Zones = append(b.set.Zones, f.Zone)
	}
	for _, r := range f.Regions {
		line := f.regionLines[r.Name]
		if at, dup := b.regionAt[r.Name]; dup {
			b.errorf(f.Name, line, "region %s is already defined at %s", r.Name, at)
			continue
		}
		b.regionAt[r.Name] = fmt.Sprintf("%s:%d", f.Name, line)
		b.set.Regions[r.Name] = r
	}
}

// checkRefs requires every region a file's services name to exist.
func (b *builder) checkRefs(f *File) {
	for _, ref := range f.refs {
		if b.set.Regions[ref.name] == nil {
			b.errorf(f.Name, ref.line, "%s: unknown region %q", ref.where, ref.name)
		}
	}
}

// checkServices requires each service to have regions to balance over,
// and no region answering with a CNAME where a CNAME may not be.
func (b *builder) checkServices(f *File) {
	for _, def := range f.services {
		regions := b.set.ServiceRegions(def.svc)
		if len(def.svc.Regions) == 0 && len(regions) == 0 {
			b.errorf(f.Name, def.line, "%s: there are no regions to balance over", def.where)
		}
		for _, r := range regions {
			switch {
			case r.CNAME == "":
			case def.svc.Name == f.Zone.Origin:
				b.errorf(f.Name, def.line, "%s: region %s answers with a CNAME (%s), which is not allowed at the zone apex",
					def.where, r.Name, r.CNAME)
			case def.static != "":
				b.errorf(f.Name, def.line, "%s: region %s answers with a CNAME (%s), which cannot coexist with the %s",
					def.where, r.Name, r.CNAME, def.static)
			}
		}
	}
}

// LoadDir parses the zone files of dir and builds them into a Set, with
// the extra regions from the environment (see Build). The zone files are
// the *.yaml and *.yml files directly in dir (not in subdirectories, and
// not hidden ones), in name order. The error, if any, is a *LoadError
// listing the problems of every file.
func LoadDir(dir string, extra []*Region) (*Set, error) {
	paths, err := zoneFiles(dir)
	if err != nil {
		return nil, err
	}
	files, err := parseFiles(paths)
	if err != nil {
		return nil, err
	}
	return Build(files, extra)
}

// LoadFiles parses and builds the given zone files.
func LoadFiles(paths ...string) (*Set, error) {
	if len(paths) == 0 {
		return nil, &LoadError{Errors: []FileError{{Msg: "no zone files given"}}}
	}
	files, err := parseFiles(paths)
	if err != nil {
		return nil, err
	}
	return Build(files, nil)
}

// Check loads path, a zone file or a directory of them, for
// `geodns zone check`. A single file must not use regions defined in other
// files.
func Check(path string) (*Set, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, &LoadError{Errors: []FileError{ioError(path, err)}}
	}
	if info.IsDir() {
		return LoadDir(path, nil)
	}
	return LoadFiles(path)
}

// zoneFiles lists the zone files of dir, sorted by name.
func zoneFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, &LoadError{Errors: []FileError{ioError(dir, err)}}
	}
	var paths []string
	for _, e := range entries {
		name := e.Name()
		isZone := strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
		// Hidden files are editor backups and lock files; symlinks are
		// followed (a broken one is reported when read).
		if !isZone || strings.HasPrefix(name, ".") || !(e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0) {
			continue
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	if len(paths) == 0 {
		return nil, &LoadError{Errors: []FileError{{File: dir, Msg: "no zone files (*.yaml or *.yml) in this directory"}}}
	}
	return paths, nil
}

// parseFiles reads and parses paths, reporting the problems of them all.
func parseFiles(paths []string) ([]*File, error) {
	var (
		files []*File
		errs  []FileError
	)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, ioError(path, err))
			continue
		}
		f, ferrs := parseFile(path, data)
		if len(ferrs) > 0 {
			errs = append(errs, ferrs...)
			continue
		}
		files = append(files, f)
	}
	if len(errs) > 0 {
		return nil, newLoadError(errs)
	}
	return files, nil
}

// ioError reports a failed read of path without repeating the path, which
// FileError already prints.
func ioError(path string, err error) FileError {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return FileError{File: path, Msg: err.Error()}
}
