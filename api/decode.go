package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

// decode reads the request body, which must hold exactly one JSON value
// with no fields dst does not have, into dst.
func decode(c echo.Context, dst any) error {
	// Read whole (BodyLimit caps it) so that an unknown field can be
	// looked up again for its path.
	data, err := io.ReadAll(c.Request().Body)
	if err != nil {
		if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
			return err
		}
		return &apiError{Status: http.StatusBadRequest, Msg: "reading the request body: " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		err = bodyError(err)
		var ae *apiError
		if errors.As(err, &ae) && strings.HasPrefix(ae.Msg, "unknown field ") {
			ae.Field = unknownFieldPath(data, reflect.TypeOf(dst), ae.Field)
			ae.Msg = fmt.Sprintf("unknown field %q", ae.Field)
		}
		return err
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); errors.Is(err, io.EOF) {
		return nil
	}
	return &apiError{Status: http.StatusBadRequest, Msg: "malformed JSON: the body must hold a single JSON value"}
}

// bodyError explains why a body could not be decoded.
func bodyError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	bad := func(field, format string, args ...any) error {
		return &apiError{Status: http.StatusBadRequest, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case errors.Is(err, echo.ErrStatusRequestEntityTooLarge):
		return err
	case errors.Is(err, io.EOF):
		return bad("", "malformed JSON: the request body is empty (want a JSON object)")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad("", "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &syntax):
		return bad("", "malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return bad("", "malformed JSON: the body must be %s, not %s", describeType(typ.Type), article(typ.Value))
		}
		return bad(typ.Field, "must be %s, not %s", describeType(typ.Type), article(typ.Value))
	}
	// encoding/json reports unknown fields only in its message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return bad(field, "unknown field %q", field)
	}
	return bad("", "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// unknownFieldPath finds the dotted path of the unknown field named name
// in the JSON body data decoded into a value of type t ("location.altitude"
// rather than encoding/json's "altitude"); name when it cannot.
func unknownFieldPath(data []byte, t reflect.Type, name string) string {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return name
	}
	if path, ok := findUnknown(v, t, ""); ok && (path == name || strings.HasSuffix(path, "."+name)) {
		return path
	}
	return name
}

// findUnknown walks v along type t and returns the path of the first key
// t has no field for. Like encoding/json, field names match without
// regard to case.
func findUnknown(v any, t reflect.Type, prefix string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[strings.ToLower(name)] = f.Type
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				return prefix + k, true
			}
			if path, ok := findUnknown(m[k], ft, prefix+k+"."); ok {
				return path, true
			}
		}
	case reflect.Slice, reflect.Array:
		items, _ := v.([]any)
		for i, item := range items {
			if path, ok := findUnknown(item, t.Elem(), fmt.Sprintf("%s%d.", prefix, i)); ok {
				return path, true
			}
		}
	}
	return "", false
}

// describeType names a Go type as JSON sees it.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// article puts "a"/"an" before a JSON value kind ("string", "number",
// "array", "object", "bool", or a number's text).
func article(v string) string {
	switch v {
	case "array", "object":
		return "an " + v
	case "string", "number", "bool":
		return "a " + v
	}
	return "the " + v // "number 1e400", out of range
}

// newStdLogger routes net/http's own messages (TLS handshake failures and
// the like) to the debug log.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(logWriter{l}, "", 0)
}

type logWriter struct{ l zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Debug().Str("source", "net/http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
