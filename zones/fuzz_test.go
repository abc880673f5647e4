package zones

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// FuzzParseFile feeds arbitrary bytes to ParseFile (and what parses on to
// Build): nothing may panic, errors must be *LoadError with sane lines, and
// a file that parses must hold a zone with its apex records.
func FuzzParseFile(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join(exampleDir, "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		base,
		withServices + "  www:\n    regions: [us-east]\n    nets: {10.0.0.0/8: us-east}\n",
		base + "  www CNAME a\n  www A 192.0.2.1\n",
		base + "  www TXT ( \"a\"\n",
		base + "  $INCLUDE /etc/passwd\n",
		base + "  $GENERATE 1-65535 h$ A 192.0.2.1\n",
		"zone: example.test.\nrecords: \"@ SOA ns1 h 1 2 3 4 5\\n@ NS ns1\"\n",
		"zone: a\nregions: &a {r: *a}\n",
		"---\n---\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile("fuzz.yaml", data)
		if err != nil {
			checkFuzzError(t, err, data)
			return
		}
		z := file.Zone
		if z == nil || z.SOA == nil || len(z.NS) == 0 || z.Nodes[z.Origin] == nil {
			t.Fatalf("parsed without a complete apex: %+v", z)
		}
		if _, err := Build([]*File{file}, nil); err != nil {
			checkFuzzError(t, err, data)
		}
	})
}

func checkFuzzError(t *testing.T, err error, data []byte) {
	t.Helper()
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %T is not a *LoadError: %v", err, err)
	}
	if len(le.Errors) == 0 || len(le.Errors) > maxErrors+1 {
		t.Fatalf("%d errors", len(le.Errors))
	}
	lines := yamlLines(data)
	for _, fe := range le.Errors {
		if fe.Line < 0 || fe.Line > lines+1 || fe.Msg == "" {
			t.Fatalf("error out of place (file has %d lines): %q", lines, fe.Error())
		}
	}
}

// yamlLines counts lines the way YAML does: CR, LF and CR LF all end one,
// and so do NEL, LS and PS; a UTF-16 byte-order mark switches encoding.
func yamlLines(data []byte) int {
	text := string(data)
	if len(data) >= 2 && (data[0] == 0xff && data[1] == 0xfe || data[0] == 0xfe && data[1] == 0xff) {
		text = decodeUTF16(data)
	}
	n := 1 + strings.Count(text, "\n") + strings.Count(text, "\r") - strings.Count(text, "\r\n")
	for _, sep := range []string{"\u0085", "\u2028", "\u2029"} {
		n += strings.Count(text, sep)
	}
	return n
}

// decodeUTF16 decodes data, which starts with a byte-order mark.
func decodeUTF16(data []byte) string {
	units := make([]uint16, 0, len(data)/2)
	for i := 2; i+1 < len(data); i += 2 {
		if data[0] == 0xff { // little-endian
			units = append(units, uint16(data[i])|uint16(data[i+1])<<8)
		} else {
			units = append(units, uint16(data[i])<<8|uint16(data[i+1]))
		}
	}
	return string(utf16.Decode(units))
}
