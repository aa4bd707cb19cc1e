package starlark

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"

	"go.starlark.net/starlark"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
)

// matcher is the Starlark value of eq(…), gt(…) and the others: a
// condition on one field of a response. It is immutable.
type matcher struct {
	m    engineMatcher
	desc string // as a script writes it: `not_(contains("panic"))`
}

var _ starlark.Value = matcher{}

func (m matcher) String() string        { return m.desc }
func (m matcher) Type() string          { return "matcher" }
func (m matcher) Freeze()               {}
func (m matcher) Truth() starlark.Bool  { return starlark.True }
func (m matcher) Hash() (uint32, error) { return starlark.String(m.desc).Hash() }

// toMatcher converts what a script gives where a matcher is expected: a
// matcher, or a plain value that means eq(value).
func toMatcher(v starlark.Value) (matcher, error) {
	if m, ok := v.(matcher); ok {
		return m, nil
	}
	return eqMatcher(v)
}

// eqMatcher is eq(v): None means is_null(), a list or dict compares as
// JSON, anything else as text (numbers as numbers).
func eqMatcher(v starlark.Value) (matcher, error) {
	desc := "eq(" + v.String() + ")"
	switch v := v.(type) {
	case starlark.NoneType:
		return matcher{engineOf(attest.IsNull[any]()), desc}, nil
	case *starlark.List, starlark.Tuple, *starlark.Dict:
		want, err := toGo(v)
		if err != nil {
			return matcher{}, err
		}
		return matcher{jsonEqual(want), desc}, nil
	case starlark.Bool:
		return matcher{engineOf(attest.Is(bool(v))), desc}, nil
	}
	want, err := scalar(v)
	if err != nil {
		return matcher{}, err
	}
	return matcher{engineOf(attest.Is(want)), desc}, nil
}

// scalar converts a number, string or bool to the Go value attest's Is
// compares with: a number stays a number, so that it equals a JSON number
// numerically and any other field only as its exact text.
func scalar(v starlark.Value) (any, error) {
	switch v := v.(type) {
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i, nil
		}
		return v.BigInt(), nil
	case starlark.Float:
		return float64(v), nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.String:
		return string(v), nil
	}
	_, err := scalarText(v)
	return nil, err
}

// engineOf gives an attest matcher its engineMatcher face; every matcher of
// package attest has Match.
func engineOf(m interface{ Expected() string }) engineMatcher { return m.(engineMatcher) }

// engineMatcher is an attest matcher of any type parameter, as every
// matcher of package attest is one: Check calls its Match.
type engineMatcher interface {
	Expected() string
	Match(v engine.Value) (ok bool, why string)
}

// retyped gives an attest matcher the static type a modifier of
// attest.Check wants (Matcher[int] for the status, Matcher[string] for the
// body); the check calls its Match, which sees the whole field whatever T
// is.
type retyped[T any] struct{ m engineMatcher }

func (r retyped[T]) Check(actual T) bool {
	ok, _ := r.m.Match(engine.TextValue(fmt.Sprint(actual)))
	return ok
}
func (r retyped[T]) Expected() string                    { return r.m.Expected() }
func (r retyped[T]) Match(v engine.Value) (bool, string) { return r.m.Match(v) }

// scalarText renders a number, string or bool as the text a response field
// is compared with.
func scalarText(v starlark.Value) (string, error) {
	switch v := v.(type) {
	case starlark.String:
		return string(v), nil
	case starlark.Int, starlark.Float:
		return v.String(), nil
	case starlark.Bool:
		if v {
			return "true", nil
		}
		return "false", nil
	}
	return "", fmt.Errorf("want a matcher or a value to compare with (a number, string, bool, None, list or dict), got %s", v.Type())
}

func builtinEq(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "value", &v); err != nil {
		return nil, err
	}
	m, err := eqMatcher(v)
	if err != nil {
		return nil, fmt.Errorf("eq: %w", err)
	}
	return m, nil
}

func makeOrder(greater bool) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "value", &v); err != nil {
			return nil, err
		}
		switch v.(type) {
		case starlark.Int, starlark.Float, starlark.String:
		default:
			return nil, fmt.Errorf("%s: want a number or a string to compare with, got %s", b.Name(), v.Type())
		}
		s, _ := scalarText(v)
		desc := b.Name() + "(" + v.String() + ")"
		if greater {
			return matcher{engineOf(attest.GreaterThan(s)), desc}, nil
		}
		return matcher{engineOf(attest.LessThan(s)), desc}, nil
	}
}

func builtinIsNull(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return matcher{engineOf(attest.IsNull[any]()), "is_null()"}, nil
}

func builtinContains(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "text", &s); err != nil {
		return nil, err
	}
	return matcher{engineOf(attest.Contains(s)), "contains(" + starlark.String(s).String() + ")"}, nil
}

func builtinMatches(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &s); err != nil {
		return nil, err
	}
	if _, err := regexp.Compile(s); err != nil {
		return nil, fmt.Errorf("matches: invalid pattern %q: %v (RE2 syntax, as Go's regexp package)", s, err)
	}
	return matcher{engineOf(attest.Matches(s)), "matches(" + starlark.String(s).String() + ")"}, nil
}

func builtinHasLen(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var n int
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "n", &n); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("has_len: length %d cannot be negative", n)
	}
	return matcher{engineOf(attest.HasLen[any](n)), fmt.Sprintf("has_len(%d)", n)}, nil
}

func builtinOneOf(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("one_of: takes values only, no keyword arguments")
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("one_of: give at least one value")
	}
	values := make([]any, len(args))
	parts := make([]string, len(args))
	for i, a := range args {
		v, err := scalar(a)
		if err != nil {
			return nil, fmt.Errorf("one_of: argument %d: want a number, string or bool, got %s", i+1, a.Type())
		}
		values[i], parts[i] = v, a.String()
	}
	return matcher{engineOf(attest.OneOf(values...)), "one_of(" + strings.Join(parts, ", ") + ")"}, nil
}

func builtinNot(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "matcher", &v); err != nil {
		return nil, err
	}
	m, err := toMatcher(v)
	if err != nil {
		return nil, fmt.Errorf("not_: %w", err)
	}
	return matcher{engineOf(attest.Not[any](retyped[any]{m.m})), "not_(" + m.desc + ")"}, nil
}

// matchers unpacks the matchers of a check modifier: every argument is a
// matcher or a plain value.
func matchers(fn string, args starlark.Tuple, from int) ([]engineMatcher, error) {
	out := make([]engineMatcher, 0, len(args)-from)
	for i := from; i < len(args); i++ {
		m, err := toMatcher(args[i])
		if err != nil {
			return nil, fmt.Errorf("%s: argument %d: %w", fn, i+1, err)
		}
		out = append(out, m.m)
	}
	return out, nil
}

// jsonEqual matches a field whose JSON value equals want (as toGo makes
// it): objects whatever their key order, numbers as numbers.
func jsonEqual(want any) engineMatcher {
	desc := "is " + canonicalJSON(want)
	return engineOf(attest.MatchFunc[any](desc, func(v engine.Value) bool {
		if v.Null() {
			return false
		}
		raw := v.Text
		if v.JSON != nil {
			raw = v.JSON.Raw
		}
		got, err := decodeJSON(raw)
		return err == nil && jsonEq(got, want)
	}))
}

func decodeJSON(raw string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// jsonEq compares decoded JSON values (json.Number for numbers).
func jsonEq(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		bn, ok := b.(json.Number)
		return ok && numbersEqual(string(a), string(bn))
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !jsonEq(a[i], bs[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !jsonEq(av, bv) {
				return false
			}
		}
		return true
	}
	return a == b
}

func numbersEqual(a, b string) bool {
	if a == b {
		return true
	}
	x, _, errA := big.ParseFloat(a, 10, 200, big.ToNearestEven)
	y, _, errB := big.ParseFloat(b, 10, 200, big.ToNearestEven)
	return errA == nil && errB == nil && x.Cmp(y) == 0
}

// canonicalJSON renders a decoded JSON value compactly with sorted keys.
func canonicalJSON(v any) string {
	var b bytes.Buffer
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			writeJSON(b, v[k])
		}
		b.WriteByte('}')
	default:
		eb, _ := json.Marshal(v)
		b.Write(eb)
	}
}
