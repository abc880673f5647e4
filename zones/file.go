package zones

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

const (
	// defaultZoneTTL applies to records written without a TTL when the file
	// sets no ttl of its own.
	defaultZoneTTL = 3600
	// maxTTL is the largest TTL RFC 2181 §8 allows (the top bit must be 0).
	maxTTL  = 1<<31 - 1
	ttlWant = "an integer between 0 and 2147483647"

	emptyFile = "the file is empty: it must be a mapping with at least the keys zone and records"
)

// File is one parsed zone file: its zone and the regions it defines. It is
// the input of Build, which checks what needs every file of a directory.
type File struct {
	// Name is the path the file was read from, as used in messages.
	Name    string
	Zone    *Zone
	Regions []*Region

	// Positions Build needs for cross-file checks and their messages.
	zoneLine    int
	regionLines map[string]int
	refs        []regionRef
	services    []serviceDef
}

// regionRef is a use of a region name that only Build can resolve, because
// the region may be defined in another file.
type regionRef struct {
	where string // e.g. "service www default"
	line  int
	name  string
}

// serviceDef remembers where a service was defined, for the checks Build
// makes once it knows every region.
type serviceDef struct {
	svc   *Service
	where string // "service www"
	line  int
	// static describes the first record beside the service at its name
	// ("TXT record at line 9"), which a CNAME answer could not sit beside;
	// "" when there is none.
	static string
}

// fileParser collects the state of parsing one file.
type fileParser struct {
	file   *File
	errs   []FileError
	origin string
	// rrLines maps each record to its line, for messages that point at the
	// other record of a conflicting pair.
	rrLines map[dns.RR]int
}

// ParseFile parses and checks one zone file. Checks that need the other
// files of a directory (region names used by services) are left to Build.
// The error, if any, is a *LoadError.
func ParseFile(file string, data []byte) (*File, error) {
	f, errs := parseFile(file, data)
	if len(errs) > 0 {
		return nil, newLoadError(errs)
	}
	return f, nil
}

// parseFile returns the problems uncapped so that loaders can merge the
// problems of several files before capping.
func parseFile(name string, data []byte) (*File, []FileError) {
	p := &fileParser{
		file:    &File{Name: name, regionLines: map[string]int{}},
		rrLines: map[dns.RR]int{},
	}
	if root := p.document(data); root != nil {
		p.top(root)
	}
	if len(p.errs) == 0 && p.file.Zone != nil {
		p.file.Zone.index()
	}
	return p.file, p.errs
}

func (p *fileParser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, FileError{File: p.file.Name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// document decodes data, which must be a single YAML document holding a
// mapping, and returns that mapping (nil after reporting a problem).
func (p *fileParser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(0, emptyFile)
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		p.errorf(next.Line, "a zone file holds a single YAML document: remove this one or move it to a file of its own")
		return nil
	case !errors.Is(err, io.EOF):
		p.yamlError(err)
		return nil
	}
	root := doc.Content[0]
	if p.rejectAliases(root); len(p.errs) > 0 {
		return nil
	}
	if isNull(root) {
		p.errorf(0, emptyFile)
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, "the file must be a mapping with at least the keys zone and records, not %s", describe(root))
		return nil
	}
	return root
}

// yamlError reports a syntax error, moving yaml's "line N:" into the line.
func (p *fileParser) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	}
	p.errorf(line, "invalid YAML: %s", msg)
}

// top reads the keys of the file's mapping.
func (p *fileParser) top(root *yaml.Node) {
	f, _ := p.fields(root, "", "zone", "ttl", "records", "regions", "services")
	// Relative names everywhere in the file hang off the origin, so
	// without it nothing else can be checked meaningfully.
	if !p.zoneName(f) {
		return
	}
	ttl := uint32(defaultZoneTTL)
	if e, ok := f["ttl"]; ok {
		v, _ := p.integer(e, "ttl", 0, maxTTL, ttlWant)
		ttl = uint32(v)
	}
	z := &Zone{Origin: p.origin, File: p.file.Name, DefaultTTL: ttl, Nodes: map[string]*Node{}}
	p.file.Zone = z
	if e, ok := f["records"]; ok {
		p.records(e, z)
	} else {
		p.errorf(0, "missing required key %q", "records")
	}
	if e, ok := f["regions"]; ok {
		p.regions(e)
	}
	if e, ok := f["services"]; ok {
		p.services(e, z)
	}
}

// zoneName reads the zone key into p.origin.
func (p *fileParser) zoneName(f map[string]entry) bool {
	e, ok := f["zone"]
	if !ok {
		p.errorf(0, "missing required key %q", "zone")
		return false
	}
	s, ok := p.str(e, "zone")
	if !ok {
		return false
	}
	if _, ok := dns.IsDomainName(s); !ok {
		p.errorf(e.val.Line, "zone: %q is not a valid domain name", s)
		return false
	}
	p.file.zoneLine = e.line
	p.origin = dns.CanonicalName(s)
	return true
}

// absName resolves a name written in the file the way master files do:
// "@" is the zone apex, a name ending in a dot is absolute, anything else
// is relative to the zone. The result is a lower-case FQDN.
func (p *fileParser) absName(s string) (string, bool) {
	switch {
	case s == "@":
		return p.origin, true
	case s == "":
		return "", false
	case !dns.IsFqdn(s):
		if p.origin != "." {
			s += "." + p.origin
		} else {
			s += "."
		}
	}
	if _, ok := dns.IsDomainName(s); !ok {
		return "", false
	}
	return dns.CanonicalName(s), true
}
