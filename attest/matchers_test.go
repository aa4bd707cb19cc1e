package attest_test

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
)

const doc = `{"role":"leader","term":10,"small":9,"ratio":2.5,"leader":null,"peers":["a","b","c"],
"empty":[],"obj":{"x":1,"y":2},"name":"héllo","num_str":"10","flag":true,"blank":""}`

func field(path string) engine.Value { return engine.JSONValue(gjson.Get(doc, path)) }

func TestMatchers(t *testing.T) {
	missingHeader := engine.Value{Missing: true}
	tests := []struct {
		name  string
		m     interface{ Expected() string }
		v     engine.Value
		want  bool
		desc  string // String(), when not ""
		whyIn string // part of why, when not ""
	}{
		{"is int status", Is(200), engine.TextValue("200"), true, "is 200", ""},
		{"is int status mismatch", Is(200), engine.TextValue("503"), false, "", ""},
		{"is text", Is("value"), engine.TextValue("value"), true, `is "value"`, ""},
		{"is text exact", Is("value"), engine.TextValue("value\n"), false, "", ""},
		{"is text never numeric", Is(1), engine.TextValue("1.0"), false, "", ""},
		{"is text not trimmed", Is(42), engine.TextValue("42\n"), false, "", ""},
		{"is text keeps zeros", Is("007"), engine.TextValue("7"), false, "", ""},
		{"is number on zeros", Is(7), engine.TextValue("007"), false, "", ""},
		{"is text one", Is("1"), engine.TextValue(" 1\n"), false, "", ""},
		{"is status", Is(200), engine.StatusValue(200), true, "", ""},
		{"is status float", Is(200.0), engine.StatusValue(200), true, "", ""},
		{"is status text", Is("200"), engine.StatusValue(200), true, "", ""},
		{"is json number vs number", Is(1), engine.JSONValue(gjson.Parse("1.0")), true, "", ""},
		{"is json number exponent", Is(100), engine.JSONValue(gjson.Parse("1e2")), true, "", ""},
		{"is json number vs text", Is("1"), engine.JSONValue(gjson.Parse("1.0")), false, "", ""},
		{"is json string vs number", Is(7), engine.JSONValue(gjson.Parse(`"007"`)), false, "", ""},
		{"is json string vs number same text", Is(7), engine.JSONValue(gjson.Parse(`"7"`)), true, "", ""},
		{"one of exact", OneOf("1", "2"), engine.TextValue(" 1\n"), false, "", ""},
		{"one of json number", OneOf(1, 2), engine.JSONValue(gjson.Parse("2.0")), true, "", ""},
		{"one of text", OneOf("a", "b"), engine.TextValue("b"), true, `one of "a", "b"`, ""},
		{"is json string", Is("leader"), field("role"), true, "", ""},
		{"is json number", Is("10"), field("term"), true, "is 10", ""},
		{"is json null never", Is(""), field("leader"), false, "", ""},
		{"is json missing never", Is(""), field("nope"), false, "", ""},
		{"is json empty string", Is(""), field("blank"), true, `is ""`, ""},
		{"is missing header", Is(""), missingHeader, false, "", ""},

		{"gt numbers as numbers", GreaterThan("9"), engine.TextValue("10"), true, "greater than 9", ""},
		{"gt numbers not as text", GreaterThan("9"), engine.TextValue("10"), true, "", ""},
		{"gt json number", GreaterThan(3), field("term"), true, "", ""},
		{"gt json number fails", GreaterThan(10), field("term"), false, "", ""},
		{"gt json numeric string", GreaterThan("9"), field("num_str"), true, "", ""},
		{"gt float", GreaterThan(2.4), field("ratio"), true, "greater than 2.4", ""},
		{"gt strings", GreaterThan("apple"), engine.TextValue("banana"), true, `greater than "apple"`, ""},
		{"gt strings fail", GreaterThan("banana"), engine.TextValue("apple"), false, "", ""},
		{"gt mixed want number", GreaterThan(3), engine.TextValue("abc"), false, "", "not a number"},
		{"gt mixed want text", GreaterThan("abc"), engine.TextValue("3"), false, "", "a number"},
		{"gt null", GreaterThan(0), field("leader"), false, "", ""},
		{"gt big ints exact", GreaterThan("9007199254740992"), engine.TextValue("9007199254740993"), true, "", ""},
		{"gt beyond int64 exact", GreaterThan("18446744073709551616"), engine.TextValue("18446744073709551617"), true, "", ""},
		{"gt beyond int64 equal", GreaterThan("18446744073709551617"), engine.TextValue("18446744073709551617"), false, "", ""},
		{"gt long decimals exact", GreaterThan("0.10000000000000000001"), engine.TextValue("0.10000000000000000002"), true, "", ""},
		{"gt huge exponent", GreaterThan("1e400"), engine.TextValue("2e400"), true, "", ""},
		{"is beyond int64 differs", Is("18446744073709551617"), engine.TextValue("18446744073709551616"), false, "", ""},
		{"is beyond int64 as text", Is("18446744073709551616"), engine.TextValue("1.8446744073709551616e19"), false, "", ""},
		{"lt numbers", LessThan("10"), engine.TextValue("9"), true, "less than 10", ""},
		{"lt numbers fail", LessThan(9), field("small"), false, "", ""},
		{"lt strings", LessThan("b"), engine.TextValue("a"), true, "", ""},
		{"lt mixed", LessThan("10"), engine.TextValue("x"), false, "", "not a number"},
		{"lt negative", LessThan(0), engine.TextValue("-1"), true, "", ""},

		{"null json null", IsNull[string](), field("leader"), true, "is null", ""},
		{"null json missing", IsNull[string](), field("nope"), true, "", ""},
		{"null json value", IsNull[string](), field("role"), false, "", ""},
		{"null json empty string", IsNull[string](), field("blank"), false, "", ""},
		{"null missing header", IsNull[string](), missingHeader, true, "", ""},
		{"null text", IsNull[string](), engine.TextValue(""), false, "", ""},
		{"not null", Not(IsNull[string]()), field("role"), true, "not is null", ""},

		{"contains", Contains("ead"), field("role"), true, `contains "ead"`, ""},
		{"contains fail", Contains("x"), engine.TextValue("abc"), false, "", ""},
		{"contains null", Contains(""), field("leader"), false, "", ""},
		{"not contains", Not(Contains("panic")), engine.TextValue("ok"), true, `not contains "panic"`, ""},

		{"matches", Matches(`^key not found\n?$`), engine.TextValue("key not found\n"), true, "matches `^key not found\\n?$`", ""},
		{"matches fail", Matches(`^\d+$`), engine.TextValue("12a"), false, "", ""},
		{"matches invalid", Matches(`(`), engine.TextValue("("), false, "", "invalid pattern"},
		{"matches backquote", Matches("`"), engine.TextValue("`"), true, "matches \"`\"", ""},

		{"len array", HasLen[string](3), field("peers"), true, "has length 3", ""},
		{"len array fail", HasLen[string](4), field("peers"), false, "", "length 3"},
		{"len empty array", HasLen[string](0), field("empty"), true, "", ""},
		{"len object", HasLen[string](2), field("obj"), true, "", ""},
		{"len json string runes", HasLen[string](5), field("name"), true, "", ""},
		{"len text runes", HasLen[string](5), engine.TextValue("héllo"), true, "", ""},
		{"len number", HasLen[string](2), field("term"), false, "", "has no length"},
		{"len null", HasLen[string](0), field("leader"), false, "", ""},
		{"len missing", HasLen[string](0), field("nope"), false, "", ""},

		{"one of", OneOf("a", "b"), engine.TextValue("b"), true, `one of "a", "b"`, ""},
		{"one of ints", OneOf(200, 204), engine.TextValue("204"), true, "one of 200, 204", ""},
		{"one of fail", OneOf("a", "b"), engine.TextValue("c"), false, "", ""},
		{"one of null", OneOf(""), field("leader"), false, "", ""},

		{"not", Not(Is(500)), engine.TextValue("200"), true, "not is 500", ""},
		{"not fail", Not(Is(500)), engine.TextValue("500"), false, "", ""},
		{"not not", Not(Not(Is("x"))), engine.TextValue("x"), true, "", ""},

		{"func", MatchFunc[string]("is even", func(v engine.Value) bool { return len(v.Text)%2 == 0 }), engine.TextValue("ab"), true, "is even", ""},
		{"func fail", MatchFunc[string]("is even", func(v engine.Value) bool { return len(v.Text)%2 == 0 }), engine.TextValue("a"), false, "", ""},
		{"bool", Is(true), field("flag"), true, "is true", ""},
		{"bool mismatch", Is(false), field("flag"), false, "is false", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := MatchValue(tc.m, tc.v)
			if ok != tc.want {
				t.Errorf("%v on %v = %v (%s), want %v", tc.m, tc.v, ok, why, tc.want)
			}
			if tc.desc != "" && tc.m.Expected() != tc.desc {
				t.Errorf("Expected() = %q, want %q", tc.m.Expected(), tc.desc)
			}
			if tc.whyIn != "" && !strings.Contains(why, tc.whyIn) {
				t.Errorf("why = %q, want it to contain %q", why, tc.whyIn)
			}
			if ok && why != "" {
				t.Errorf("a match explains itself: %q", why)
			}
		})
	}
}

func TestValueString(t *testing.T) {
	tests := []struct {
		name string
		v    engine.Value
		want string
	}{
		{"status", engine.TextValue("200"), "200"},
		{"text", engine.TextValue("key not found\n"), `"key not found\n"`},
		{"json string", field("role"), `"leader"`},
		{"json number", field("term"), "10"},
		{"json null", field("leader"), "null"},
		{"json missing", field("nope"), "(missing)"},
		{"json array", field("peers"), `["a","b","c"]`},
		{"missing header", engine.Value{Missing: true}, "(missing)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.String(); got != tc.want {
				t.Errorf("String() = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestMatcherTypes is a compile-time check of the original attest's
// signatures: Status takes Matcher[int], Body Matcher[string], Not is
// generic, and JSON takes a matcher of any type.
func TestMatcherTypes(t *testing.T) {
	status := []Matcher[int]{Is(200), Not(Is(500)), Not[int](Is(500)), OneOf(200, 201), evenMatcher{}, Not[int](evenMatcher{})}
	text := []Matcher[string]{Is("x"), Contains("x"), Not(Contains("panic")), Not[string](Matches("^a")), IsNull[string](), HasLen[string](2), OneOf("a", "b")}
	json := []interface{ Expected() string }{Is(1), GreaterThan(3), Is("x"), IsNull[string](), evenMatcher{}}
	if len(status) != 6 || len(text) != 7 || len(json) != 5 {
		t.Fatal("unreachable")
	}
}

// evenMatcher is a matcher in the original attest's style: Check and
// Expected only.
type evenMatcher struct{}

func (evenMatcher) Check(actual int) bool { return actual%2 == 0 }
func (evenMatcher) Expected() string      { return "an even number" }

// TestOriginalMatcherInterface applies a matcher that has only the
// original Check and Expected methods to each kind of field.
func TestOriginalMatcherInterface(t *testing.T) {
	tests := []struct {
		name string
		m    interface{ Expected() string }
		v    engine.Value
		want bool
	}{
		{"status", evenMatcher{}, engine.StatusValue(200), true},
		{"status odd", evenMatcher{}, engine.StatusValue(201), false},
		{"not", Not[int](evenMatcher{}), engine.StatusValue(201), true},
		{"json number", evenMatcher{}, engine.JSONValue(gjson.Parse("4")), true},
		{"json text", evenMatcher{}, engine.JSONValue(gjson.Parse(`"x"`)), false},
		{"json null", Not[int](evenMatcher{}), field("leader"), true},
		{"text", prefixMatcher("ke"), engine.TextValue("key"), true},
		{"text fails", prefixMatcher("ke"), engine.TextValue("value"), false},
		{"missing header", prefixMatcher(""), engine.Value{Missing: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if ok, why := MatchValue(tc.m, tc.v); ok != tc.want {
				t.Errorf("%s on %v = %v (%s), want %v", tc.m.Expected(), tc.v, ok, why, tc.want)
			}
		})
	}
	// Built-in matchers keep the original Check, for code that calls it.
	if !Is(3).Check(3) || Is("a").Check("b") || !GreaterThan(2).Check(3) || !Not(Is(1)).Check(2) ||
		!HasLen[[]int](2).Check([]int{1, 2}) || !IsNull[*int]().Check(nil) || !OneOf("a", "b").Check("b") {
		t.Error("a built-in matcher's Check disagrees with its meaning")
	}
}

type prefixMatcher string

func (p prefixMatcher) Check(actual string) bool { return strings.HasPrefix(actual, string(p)) }
func (p prefixMatcher) Expected() string         { return "starts with " + string(p) }
