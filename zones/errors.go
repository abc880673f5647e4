package zones

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxErrors caps how many problems one LoadError reports: past that point
// the rest are usually consequences of the same mistake.
const maxErrors = 50

// FileError is one problem found in a zone file.
type FileError struct {
	File string
	// Line is 1-based; 0 means the problem concerns the whole file.
	Line int
	Msg  string
}

// Error formats the problem as "file:line: msg" (or "file: msg" without a
// line), the form editors and CI annotations understand.
func (e FileError) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line == 0:
		return e.File + ": " + e.Msg
	default:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
}

// LoadError lists every problem found while loading zone files, so one run
// of `geodns zone check` reports them all.
type LoadError struct {
	Errors []FileError
}

// Error returns the problems one per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// newLoadError sorts errs by file and line (stable, so problems on one
// line keep the order they were found in) and caps their number.
func newLoadError(errs []FileError) *LoadError {
	errs = slices.Clone(errs)
	slices.SortStableFunc(errs, func(a, b FileError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	if len(errs) > maxErrors {
		more := len(errs) - maxErrors
		errs = append(errs[:maxErrors], FileError{Msg: fmt.Sprintf("too many errors: %d more not shown", more)})
	}
	return &LoadError{Errors: errs}
}

// ctx prefixes msg with where it applies ("region us-east weight"), or
// leaves it alone at the top level of a file.
func ctx(where, msg string) string {
	if where == "" {
		return msg
	}
	return where + ": " + msg
}

// sub names key inside where, e.g. sub("region us-east", "weight").
func sub(where, key string) string {
	if where == "" {
		return key
	}
	return where + " " + key
}
