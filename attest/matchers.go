package attest

import (
	"cmp"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/internal/render"
)

// Matcher is a condition on one field of a response: the status, the body,
// a header or a JSON field. It is the interface of the original attest, so
// a matcher written for it works unchanged.
//
// The matchers of this package also examine the whole field, as an
// engine.Value (through a method Match(v engine.Value) (ok bool, why
// string)), which is what a check calls when a matcher has it: that is how
// IsNull sees a JSON null, HasLen a JSON array and Is a JSON number. A
// matcher of your own may have Match too; otherwise the check calls Check
// with the field: Check(int) for the status, Check(string) for the body, a
// header (its values joined by ", ") or a JSON field's text. A JSON null,
// a missing field and a missing header never pass Check.
//
// Status takes Matcher[int], Body and Header Matcher[string], as in the
// original; JSON takes any matcher, so that JSON("term", Is(1)) compares
// the field with the number 1.
type Matcher[T any] interface {
	// Check reports whether actual satisfies the matcher.
	Check(actual T) bool
	// Expected describes what the matcher accepts, for failure output:
	// "is 200", "greater than 3", "not contains \"panic\"".
	Expected() string
}

// valueMatcher is a matcher that examines the whole engine.Value; every matcher
// of this package is one.
type valueMatcher interface {
	Match(v engine.Value) (ok bool, why string)
}

// checkable reports whether the engine can apply m (see Matcher): it has
// Match, or a Check method taking an int, a string or any.
func checkable(m any) bool {
	switch m.(type) {
	case valueMatcher, interface{ Check(int) bool }, interface{ Check(string) bool }, interface{ Check(any) bool }:
		return true
	}
	return false
}

// match applies a matcher to a field: through Match when it has it, or
// else through the original attest's Check(T) (see Matcher).
func match(m any, v engine.Value) (ok bool, why string) {
	if vm, isVM := m.(valueMatcher); isVM {
		return vm.Match(v)
	}
	if v.Null() {
		return false, ""
	}
	switch m := m.(type) {
	case interface{ Check(int) bool }:
		n, err := strconv.Atoi(strings.TrimSpace(v.Text))
		if err != nil {
			return false, "not an integer"
		}
		return m.Check(n), ""
	case interface{ Check(string) bool }:
		return m.Check(v.Text), ""
	case interface{ Check(any) bool }:
		return m.Check(v.Text), ""
	}
	return false, fmt.Sprintf("matcher %T has neither Match(Value) nor Check", m)
}

// expected describes a matcher, even a nil one.
func expected(m any) string {
	if e, ok := m.(interface{ Expected() string }); ok {
		return e.Expected()
	}
	return fmt.Sprintf("<%T>", m)
}

type isMatcher[T comparable] struct{ want T }

// Is matches a value equal to want, exactly: a body, a header or a JSON
// string equals want's text byte for byte, so Is("7") does not match "07",
// "7.0" or " 7\n". Only a number against a number compares numerically:
// when want is a Go number and the field is a JSON number or the status,
// Is(1) matches 1, 1.0 and 1e0. A JSON null or a missing field is never
// equal to anything; use IsNull.
func Is[T comparable](want T) Matcher[T] { return isMatcher[T]{want} }

func (m isMatcher[T]) Match(v engine.Value) (bool, string) {
	if v.Null() {
		return false, ""
	}
	return equal(v, m.want), ""
}

func (m isMatcher[T]) Check(actual T) bool { return actual == m.want }
func (m isMatcher[T]) Expected() string    { return "is " + describe(m.want) }
func (m isMatcher[T]) String() string      { return m.Expected() }

type orderMatcher[T cmp.Ordered] struct {
	want    T
	greater bool
}

// GreaterThan matches a value greater than want. Unlike Is, it reads
// numbers out of text: when both sides look like numbers (a JSON number,
// the status, or text such as "10") they are compared as numbers, so "10"
// is greater than "9"; when neither does, as text; a number and text
// never match.
func GreaterThan[T cmp.Ordered](want T) Matcher[T] { return orderMatcher[T]{want, true} }

// LessThan matches a value less than want, comparing as GreaterThan does.
func LessThan[T cmp.Ordered](want T) Matcher[T] { return orderMatcher[T]{want, false} }

func (m orderMatcher[T]) Match(v engine.Value) (bool, string) {
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

func (m orderMatcher[T]) String() string { return m.Expected() }

func (m orderMatcher[T]) Check(actual T) bool {
	if m.greater {
		return actual > m.want
	}
	return actual < m.want
}

func (m orderMatcher[T]) Expected() string {
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

func (nullMatcher[T]) Match(v engine.Value) (bool, string) { return v.Null(), "" }

func (nullMatcher[T]) Expected() string { return "is null" }

func (nullMatcher[T]) Check(actual T) bool {
	v := reflect.ValueOf(actual)
	if !v.IsValid() {
		return true
	}
	switch v.Kind() {
	case reflect.Chan, reflect.Func, reflect.Interface, reflect.Map, reflect.Pointer, reflect.Slice:
		return v.IsNil()
	}
	return false
}
func (nullMatcher[T]) String() string { return "is null" }

type containsMatcher struct{ sub string }

// Contains matches text that contains sub. On a JSON array or object it
// looks at the raw JSON text.
func Contains(sub string) Matcher[string] { return containsMatcher{sub} }

func (m containsMatcher) Match(v engine.Value) (bool, string) {
	if v.Null() {
		return false, ""
	}
	return strings.Contains(v.Text, m.sub), ""
}

func (m containsMatcher) Check(actual string) bool { return strings.Contains(actual, m.sub) }
func (m containsMatcher) Expected() string         { return "contains " + strconv.Quote(m.sub) }
func (m containsMatcher) String() string           { return m.Expected() }

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

func (m regexpMatcher) Match(v engine.Value) (bool, string) {
	if m.err != nil {
		return false, "invalid pattern: " + m.err.Error()
	}
	if v.Null() {
		return false, ""
	}
	return m.re.MatchString(v.Text), ""
}

func (m regexpMatcher) String() string { return m.Expected() }

func (m regexpMatcher) Check(actual string) bool { return m.err == nil && m.re.MatchString(actual) }

func (m regexpMatcher) Expected() string {
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

func (m lenMatcher[T]) Match(v engine.Value) (bool, string) {
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

func (m lenMatcher[T]) Check(actual T) bool {
	v := reflect.ValueOf(actual)
	switch v.Kind() {
	case reflect.String:
		return utf8.RuneCountInString(v.String()) == m.n
	case reflect.Array, reflect.Chan, reflect.Map, reflect.Slice:
		return v.Len() == m.n
	}
	return false
}

func (m lenMatcher[T]) Expected() string { return fmt.Sprintf("has length %d", m.n) }
func (m lenMatcher[T]) String() string   { return m.Expected() }

type oneOfMatcher[T comparable] struct{ values []T }

// OneOf matches a value equal, exactly as Is compares, to any of values.
func OneOf[T comparable](values ...T) Matcher[T] { return oneOfMatcher[T]{values} }

func (m oneOfMatcher[T]) Match(v engine.Value) (bool, string) {
	if v.Null() {
		return false, ""
	}
	for _, want := range m.values {
		if equal(v, want) {
			return true, ""
		}
	}
	return false, ""
}

func (m oneOfMatcher[T]) String() string { return m.Expected() }

func (m oneOfMatcher[T]) Check(actual T) bool { return slices.Contains(m.values, actual) }

func (m oneOfMatcher[T]) Expected() string {
	parts := make([]string, len(m.values))
	for i, want := range m.values {
		parts[i] = describe(want)
	}
	return "one of " + strings.Join(parts, ", ")
}

type notMatcher[T any] struct{ m Matcher[T] }

// Not matches a value that m does not match: Status(Not(Is(500))),
// Body(Not[string](Contains("panic"))).
func Not[T any](m Matcher[T]) Matcher[T] { return notMatcher[T]{m} }

func (m notMatcher[T]) Match(v engine.Value) (bool, string) {
	if m.m == nil {
		return false, "Not of a nil matcher"
	}
	if !checkable(m.m) {
		_, why := match(m.m, v)
		return false, why
	}
	ok, _ := match(m.m, v)
	return !ok, ""
}

func (m notMatcher[T]) String() string { return m.Expected() }

func (m notMatcher[T]) Check(actual T) bool { return m.m != nil && !m.m.Check(actual) }

func (m notMatcher[T]) Expected() string {
	if m.m == nil {
		return "not <nil>"
	}
	return "not " + expected(m.m)
}

type funcMatcher[T any] struct {
	desc string
	fn   func(engine.Value) bool
}

// MatchFunc returns a matcher that calls fn, described as desc in failures
// ("is a valid address"). Front ends use it for matchers written in their
// own language.
func MatchFunc[T any](desc string, fn func(engine.Value) bool) Matcher[T] {
	return funcMatcher[T]{desc, fn}
}

func (m funcMatcher[T]) Match(v engine.Value) (bool, string) { return m.fn(v), "" }

func (m funcMatcher[T]) Check(actual T) bool { return m.fn(engine.TextValue(text(actual))) }
func (m funcMatcher[T]) Expected() string    { return m.desc }
func (m funcMatcher[T]) String() string      { return m.desc }

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
	if render.IsNumber(s) {
		return strings.TrimSpace(s)
	}
	return strconv.Quote(s)
}

// compareNumbers compares two texts that render.IsNumber accepts: exactly for
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

// equal reports whether v equals want: numerically when v is a number
// (Value.Number) and want a Go number, exactly as text otherwise.
func equal(v engine.Value, want any) bool {
	w := text(want)
	if v.Text == w {
		return true
	}
	return v.Number() && goNumber(want) && render.IsNumber(v.Text) && compareNumbers(v.Text, w) == 0
}

// goNumber reports whether v is of a Go number type.
func goNumber(v any) bool {
	switch v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr,
		float32, float64, *big.Int, *big.Float:
		return true
	}
	return false
}

// compareText orders got against want: as numbers when both are numbers,
// as text when neither is. Otherwise it explains why they cannot be
// compared.
func compareText(got, want string) (int, string) {
	gn, wn := render.IsNumber(got), render.IsNumber(want)
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
