package attest

import (
	"cmp"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Matcher is a condition on one field of a response: the status, the body,
// a header or a JSON field.
//
// The type parameter says what kind of value the matcher was written for
// (Is(200) is a Matcher[int], Is("x") a Matcher[string]) and keeps seed-era
// code such as IsNull[string]() compiling. Every matcher examines the same
// Value, so a Matcher[T] can be given wherever a Matcher[U] is expected:
// JSON("term", Is(1)) compares the field's text with 1.
type Matcher[T any] interface {
	// Match reports whether v satisfies the matcher. When it does not,
	// why may say more than the value itself shows ("not a number");
	// it is "" otherwise.
	Match(v Value) (ok bool, why string)
	// String describes the expectation for failure output: "is 200",
	// "greater than 3", "not contains \"panic\"".
	String() string
}

// Value is the field a matcher examines.
type Value struct {
	// Text is the field as text: the status code in decimal, the body, the
	// header's values joined by ", ", or a JSON field's text (a string's
	// contents, the JSON text of a number, literal, array or object).
	Text string
	// Missing reports that the header is absent or that nothing exists at
	// the JSON path.
	Missing bool
	// JSON is the JSON field, for matchers applied through Check.JSON;
	// nil for the status, the body and headers.
	JSON *gjson.Result
}

// TextValue returns the Value of a plain text field (status, body, header).
func TextValue(s string) Value { return Value{Text: s} }

// JSONValue returns the Value of a JSON field found with gjson.
func JSONValue(r gjson.Result) Value {
	return Value{Text: r.String(), Missing: !r.Exists(), JSON: &r}
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
	if isNumber(v.Text) {
		return v.Text
	}
	return quoteShort(v.Text)
}

// anyMatcher is what a check stores: every Matcher[T] is one.
type anyMatcher = Matcher[any]

type isMatcher[T comparable] struct{ want T }

// Is matches a value equal to want. Text is compared exactly, except that
// two numbers are compared as numbers (1 is 1.0, and " 42\n" is 42).
// A JSON null or a missing field is never equal to anything; use IsNull.
func Is[T comparable](want T) Matcher[T] { return isMatcher[T]{want} }

func (m isMatcher[T]) Match(v Value) (bool, string) {
	if v.Null() {
		return false, ""
	}
	return equalText(v.Text, text(m.want)), ""
}

func (m isMatcher[T]) String() string { return "is " + describe(m.want) }

type orderMatcher[T cmp.Ordered] struct {
	want    T
	greater bool
}

// GreaterThan matches a value greater than want. When both sides are
// numbers they are compared as numbers ("10" > "9"); when neither is, as
// text; a number and text never match.
func GreaterThan[T cmp.Ordered](want T) Matcher[T] { return orderMatcher[T]{want, true} }

// LessThan matches a value less than want, comparing as GreaterThan does.
func LessThan[T cmp.Ordered](want T) Matcher[T] { return orderMatcher[T]{want, false} }

func (m orderMatcher[T]) Match(v Value) (bool, string) {
	if v.Null() {
		return false, ""
	}
	c, why := compareText(v.Text, text(m.want))
	if why != "" {
		return false, why
	}
	if m.greater {
		return c > 0, ""
	}
	return c < 0, ""
}

func (m orderMatcher[T]) String() string {
	if m.greater {
		return "greater than " + describe(m.want)
	}
	return "less than " + describe(m.want)
}

type nullMatcher[T any] struct{}

// IsNull matches a JSON null. As in the original attest, a JSON field that
// does not exist counts as null, and so does a missing header; the status
// and the body are never null.
func IsNull[T any]() Matcher[T] { return nullMatcher[T]{} }

func (nullMatcher[T]) Match(v Value) (bool, string) { return v.Null(), "" }

func (nullMatcher[T]) String() string { return "is null" }

type containsMatcher struct{ sub string }

// Contains matches text that contains sub. On a JSON array or object it
// looks at the raw JSON text.
func Contains(sub string) Matcher[string] { return containsMatcher{sub} }

func (m containsMatcher) Match(v Value) (bool, string) {
	if v.Null() {
		return false, ""
	}
	return strings.Contains(v.Text, m.sub), ""
}

func (m containsMatcher) String() string { return "contains " + strconv.Quote(m.sub) }

type regexpMatcher struct {
	pattern string
	re      *regexp.Regexp
	err     error
}

// Matches matches text in which the regular expression pattern (RE2
// syntax, as package regexp) finds a match; anchor it with ^ and $ to match
// the whole text. An invalid pattern matches nothing, and the failure says
// why.
func Matches(pattern string) Matcher[string] {
	re, err := regexp.Compile(pattern)
	return regexpMatcher{pattern: pattern, re: re, err: err}
}

func (m regexpMatcher) Match(v Value) (bool, string) {
	if m.err != nil {
		return false, "invalid pattern: " + m.err.Error()
	}
	if v.Null() {
		return false, ""
	}
	return m.re.MatchString(v.Text), ""
}

func (m regexpMatcher) String() string {
	if !strings.Contains(m.pattern, "`") {
		return "matches `" + m.pattern + "`"
	}
	return "matches " + strconv.Quote(m.pattern)
}

type lenMatcher[T any] struct{ n int }

// HasLen matches a value of length n: a JSON array with n elements, a JSON
// object with n keys, or text (a body, a header, a JSON string) of n
// characters.
func HasLen[T any](n int) Matcher[T] { return lenMatcher[T]{n} }

func (m lenMatcher[T]) Match(v Value) (bool, string) {
	n, ok := v.Len()
	if !ok {
		if v.Null() {
			return false, ""
		}
		return false, "has no length"
	}
	if n != m.n {
		return false, fmt.Sprintf("length %d", n)
	}
	return true, ""
}

func (m lenMatcher[T]) String() string { return fmt.Sprintf("has length %d", m.n) }

type oneOfMatcher[T comparable] struct{ values []T }

// OneOf matches a value equal (as Is) to any of values.
func OneOf[T comparable](values ...T) Matcher[T] { return oneOfMatcher[T]{values} }

func (m oneOfMatcher[T]) Match(v Value) (bool, string) {
	if v.Null() {
		return false, ""
	}
	for _, want := range m.values {
		if equalText(v.Text, text(want)) {
			return true, ""
		}
	}
	return false, ""
}

func (m oneOfMatcher[T]) String() string {
	parts := make([]string, len(m.values))
	for i, want := range m.values {
		parts[i] = describe(want)
	}
	return "one of " + strings.Join(parts, ", ")
}

type notMatcher struct{ m anyMatcher }

// Not matches a value that m does not match. It takes and returns a
// Matcher[any], which fits wherever any Matcher[T] does: a type parameter
// could not be inferred from m, since T appears in no method.
func Not(m Matcher[any]) Matcher[any] { return notMatcher{m} }

func (m notMatcher) Match(v Value) (bool, string) {
	if m.m == nil {
		return false, "Not of a nil matcher"
	}
	ok, _ := m.m.Match(v)
	return !ok, ""
}

func (m notMatcher) String() string {
	if m.m == nil {
		return "not <nil>"
	}
	return "not " + m.m.String()
}

type funcMatcher[T any] struct {
	desc string
	fn   func(Value) bool
}

// MatchFunc returns a matcher that calls fn, described as desc in failures
// ("is a valid address"). Front ends use it for matchers written in their
// own language.
func MatchFunc[T any](desc string, fn func(Value) bool) Matcher[T] {
	return funcMatcher[T]{desc, fn}
}

func (m funcMatcher[T]) Match(v Value) (bool, string) { return m.fn(v), "" }

func (m funcMatcher[T]) String() string { return m.desc }

// text renders an expected value as the text it is compared with.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	}
	return fmt.Sprint(v)
}

// describe renders an expected value for a matcher's description: numbers
// and booleans bare, other text quoted.
func describe(v any) string {
	if b, ok := v.(bool); ok {
		return strconv.FormatBool(b)
	}
	s := text(v)
	if isNumber(s) {
		return strings.TrimSpace(s)
	}
	return strconv.Quote(s)
}

// numberPattern is a decimal number as JSON and people write it; it leaves
// out what strconv also accepts but nobody means (inf, nan, hex, _).
var numberPattern = regexp.MustCompile(`^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$`)

func isNumber(s string) bool { return numberPattern.MatchString(strings.TrimSpace(s)) }

// compareNumbers compares two texts that isNumber accepts: exactly for
// integers of any size and for decimals of up to 76 significant digits.
func compareNumbers(a, b string) int {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	ai, aerr := strconv.ParseInt(a, 10, 64)
	bi, berr := strconv.ParseInt(b, 10, 64)
	if aerr == nil && berr == nil {
		return cmp.Compare(ai, bi)
	}
	af, _, _ := big.ParseFloat(a, 10, numberPrecision, big.ToNearestEven)
	bf, _, _ := big.ParseFloat(b, 10, numberPrecision, big.ToNearestEven)
	if af == nil || bf == nil { // an exponent beyond what big.Float holds
		x, _ := strconv.ParseFloat(a, 64)
		y, _ := strconv.ParseFloat(b, 64)
		return cmp.Compare(x, y)
	}
	return af.Cmp(bf)
}

// numberPrecision is the mantissa, in bits, that numbers are compared with.
const numberPrecision = 256

func equalText(got, want string) bool {
	if got == want {
		return true
	}
	return isNumber(got) && isNumber(want) && compareNumbers(got, want) == 0
}

// compareText orders got against want: as numbers when both are numbers,
// as text when neither is. Otherwise it explains why they cannot be
// compared.
func compareText(got, want string) (int, string) {
	gn, wn := isNumber(got), isNumber(want)
	switch {
	case gn && wn:
		return compareNumbers(got, want), ""
	case !gn && !wn:
		return strings.Compare(got, want), ""
	case wn:
		return 0, "not a number"
	}
	return 0, "a number, compared with text"
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
