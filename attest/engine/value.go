package engine

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/clstr-dev/clstr/attest/internal/render"
)

// Value is the field a matcher examines: a matcher of package attest, or
// one of a suite's own with a method Match(v Value) (ok bool, why string)
// (see attest.Matcher).
type Value struct {
	// Text is the field as text: the status code in decimal, the body, the
	// header's values joined by ", ", or a JSON field's text (a string's
	// contents, the JSON text of a number, literal, array or object).
	Text string
	// Missing reports that the header is absent or that nothing exists at
	// the JSON path.
	Missing bool
	// JSON is the JSON field, for matchers applied through
	// attest.Check.JSON;
	// nil for the status, the body and headers.
	JSON *gjson.Result

	// status marks the status code, which compares with numbers as a
	// number.
	status bool
}

// StatusValue returns the Value of a status code, which compares with
// numbers as a number.
func StatusValue(code int) Value { return Value{Text: strconv.Itoa(code), status: true} }

// Number reports whether the value is a number as a number: the status
// code or a JSON number. Is and OneOf compare such a value with a number
// numerically (1 is 1.0) and everything else exactly, as text.
func (v Value) Number() bool {
	if v.JSON != nil {
		return !v.Missing && v.JSON.Type == gjson.Number
	}
	return v.status
}

// TextValue returns the Value of a plain text field (body, header).
func TextValue(s string) Value { return Value{Text: s} }

// JSONValue returns the Value of a JSON field found with gjson.
func JSONValue(r gjson.Result) Value {
	text := r.String()
	if r.Type == gjson.Number && r.Raw != "" {
		text = r.Raw // as the target wrote it: "1.0" stays "1.0"
	}
	return Value{Text: text, Missing: !r.Exists(), JSON: &r}
}

// Null reports whether the value is absent: a JSON null, nothing at the JSON
// path, or a missing header.
func (v Value) Null() bool {
	if v.JSON != nil {
		return v.Missing || v.JSON.Type == gjson.Null
	}
	return v.Missing
}

// Len returns the length of the value: the number of elements of a JSON
// array or keys of a JSON object, or the number of characters of a string.
// ok is false for numbers, literals and absent values.
func (v Value) Len() (n int, ok bool) {
	if v.Null() {
		return 0, false
	}
	if v.JSON != nil {
		switch {
		case v.JSON.IsArray():
			return len(v.JSON.Array()), true
		case v.JSON.IsObject():
			v.JSON.ForEach(func(_, _ gjson.Result) bool { n++; return true })
			return n, true
		case v.JSON.Type == gjson.String:
			return utf8.RuneCountInString(v.JSON.Str), true
		}
		return 0, false
	}
	return utf8.RuneCountInString(v.Text), true
}

// String renders the value for failure output: numbers bare, text quoted
// and shortened, JSON as compact JSON, "null" and "(missing)".
func (v Value) String() string {
	if v.Missing {
		return "(missing)"
	}
	if v.JSON != nil {
		switch v.JSON.Type {
		case gjson.Null:
			return "null"
		case gjson.String:
			return quoteShort(v.JSON.Str)
		}
		return shorten(compactJSON(v.JSON.Raw), 200)
	}
	if render.IsNumber(v.Text) {
		return v.Text
	}
	return quoteShort(v.Text)
}

func quoteShort(s string) string {
	const max = 200
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}
