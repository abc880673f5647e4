package zones

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The zone file is decoded into a yaml.Node tree and walked by hand rather
// than unmarshalled into structs: that is what lets every message carry the
// line it is about, report unknown and duplicate keys, and go on after the
// first problem.

// entry is one key/value pair of a YAML mapping.
type entry struct {
	key  string
	line int // line of the key
	val  *yaml.Node
}

// describe names a node in "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "empty"
		}
		return strconv.Quote(n.Value)
	default: // aliases, which are refused before values are read
		return "an alias"
	}
}

// isNull reports whether n is absent or an explicit YAML null; optional keys
// written without a value ("ttl:") count as omitted.
func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// rejectAliases reports every alias in the tree. Aliases are refused
// outright: following them would let a small file expand into a huge one
// (and an anchor may even contain an alias to itself).
func (p *fileParser) rejectAliases(n *yaml.Node) {
	if n.Kind == yaml.AliasNode {
		p.errorf(n.Line, "YAML aliases (*%s) are not supported", n.Value)
		return
	}
	for _, c := range n.Content {
		p.rejectAliases(c)
	}
}

// entries returns the pairs of a mapping in file order, reporting keys that
// are not scalars or appear twice. A null node is an empty mapping. ok is
// false when n is not a mapping (reported), so that callers do not go on
// to report its required keys as missing.
func (p *fileParser) entries(n *yaml.Node, where string) (pairs []entry, ok bool) {
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s", ctx(where, "must be a mapping, not "+describe(n)))
		return nil, false
	}
	seen := make(map[string]int, len(n.Content)/2)
	pairs = make([]entry, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, "%s", ctx(where, "keys must be plain strings, not "+describe(k)))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k.Line, "%s", ctx(where, fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, first)))
			continue
		}
		seen[k.Value] = k.Line
		pairs = append(pairs, entry{key: k.Value, line: k.Line, val: v})
	}
	return pairs, true
}

// fields reads a mapping with a fixed set of keys. Unknown keys are
// reported; keys with a null value are left out as if omitted. ok is as
// for entries.
func (p *fileParser) fields(n *yaml.Node, where string, allowed ...string) (f map[string]entry, ok bool) {
	pairs, ok := p.entries(n, where)
	f = make(map[string]entry, len(allowed))
	for _, e := range pairs {
		if !slices.Contains(allowed, e.key) {
			p.errorf(e.line, "%s", ctx(where, fmt.Sprintf("unknown key %q (expected one of %s)", e.key, strings.Join(allowed, ", "))))
			continue
		}
		if !isNull(e.val) {
			f[e.key] = e
		}
	}
	return f, ok
}

// str returns a scalar's text. Any scalar will do, so `countries: [NO]` or
// a numeric-looking name is taken as written.
func (p *fileParser) str(e entry, where string) (string, bool) {
	if e.val.Kind != yaml.ScalarNode {
		p.errorf(e.val.Line, "%s", ctx(where, "must be a string, not "+describe(e.val)))
		return "", false
	}
	return e.val.Value, true
}

// strList returns the items of a list of scalars as entries (key = text).
func (p *fileParser) strList(e entry, where string) []entry {
	if e.val.Kind != yaml.SequenceNode {
		p.errorf(e.val.Line, "%s", ctx(where, "must be a list, not "+describe(e.val)))
		return nil
	}
	out := make([]entry, 0, len(e.val.Content))
	for _, item := range e.val.Content {
		if item.Kind != yaml.ScalarNode || isNull(item) {
			p.errorf(item.Line, "%s", ctx(where, "items must be strings, not "+describe(item)))
			continue
		}
		out = append(out, entry{key: item.Value, line: item.Line, val: item})
	}
	return out
}

// integer decodes an integer in [lo, hi]; want describes the range for
// the message.
func (p *fileParser) integer(e entry, where string, lo, hi int64, want string) (int64, bool) {
	var v int64
	if e.val.Kind != yaml.ScalarNode || e.val.ShortTag() != "!!int" || e.val.Decode(&v) != nil || v < lo || v > hi {
		p.errorf(e.val.Line, "%s", ctx(where, "must be "+want+", not "+describe(e.val)))
		return 0, false
	}
	return v, true
}

// number decodes a finite number in [lo, hi]; want describes the range
// for the message.
func (p *fileParser) number(e entry, where string, lo, hi float64, want string) (float64, bool) {
	var v float64
	tag := e.val.ShortTag()
	ok := e.val.Kind == yaml.ScalarNode && (tag == "!!int" || tag == "!!float") && e.val.Decode(&v) == nil
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
		p.errorf(e.val.Line, "%s", ctx(where, "must be "+want+", not "+describe(e.val)))
		return 0, false
	}
	return v, true
}
