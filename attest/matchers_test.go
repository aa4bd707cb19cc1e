package attest_test

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	. "github.com/clstr-dev/clstr/attest"
)

const doc = `{"role":"leader","term":10,"small":9,"ratio":2.5,"leader":null,"peers":["a","b","c"],
"empty":[],"obj":{"x":1,"y":2},"name":"héllo","num_str":"10","flag":true,"blank":""}`

func field(path string) Value { return JSONValue(gjson.Get(doc, path)) }

func TestMatchers(t *testing.T) {
	missingHeader := Value{Missing: true}
	tests := []struct {
		name  string
		m     Matcher[any]
		v     Value
		want  bool
		desc  string // String(), when not ""
		whyIn string // part of why, when not ""
	}{
		{"is int status", Is(200), TextValue("200"), true, "is 200", ""},
		{"is int status mismatch", Is(200), TextValue("503"), false, "", ""},
		{"is text", Is("value"), TextValue("value"), true, `is "value"`, ""},
		{"is text exact", Is("value"), TextValue("value\n"), false, "", ""},
		{"is number text vs number", Is(1), TextValue("1.0"), true, "", ""},
		{"is trims numbers", Is(42), TextValue("42\n"), true, "", ""},
		{"is json string", Is("leader"), field("role"), true, "", ""},
		{"is json number", Is("10"), field("term"), true, "is 10", ""},
		{"is json null never", Is(""), field("leader"), false, "", ""},
		{"is json missing never", Is(""), field("nope"), false, "", ""},
		{"is json empty string", Is(""), field("blank"), true, `is ""`, ""},
		{"is missing header", Is(""), missingHeader, false, "", ""},

		{"gt numbers as numbers", GreaterThan("9"), TextValue("10"), true, "greater than 9", ""},
		{"gt numbers not as text", GreaterThan("9"), TextValue("10"), true, "", ""},
		{"gt json number", GreaterThan(3), field("term"), true, "", ""},
		{"gt json number fails", GreaterThan(10), field("term"), false, "", ""},
		{"gt json numeric string", GreaterThan("9"), field("num_str"), true, "", ""},
		{"gt float", GreaterThan(2.4), field("ratio"), true, "greater than 2.4", ""},
		{"gt strings", GreaterThan("apple"), TextValue("banana"), true, `greater than "apple"`, ""},
		{"gt strings fail", GreaterThan("banana"), TextValue("apple"), false, "", ""},
		{"gt mixed want number", GreaterThan(3), TextValue("abc"), false, "", "not a number"},
		{"gt mixed want text", GreaterThan("abc"), TextValue("3"), false, "", "a number"},
		{"gt null", GreaterThan(0), field("leader"), false, "", ""},
		{"gt big ints exact", GreaterThan("9007199254740992"), TextValue("9007199254740993"), true, "", ""},
		{"gt beyond int64 exact", GreaterThan("18446744073709551616"), TextValue("18446744073709551617"), true, "", ""},
		{"gt beyond int64 equal", GreaterThan("18446744073709551617"), TextValue("18446744073709551617"), false, "", ""},
		{"gt long decimals exact", GreaterThan("0.10000000000000000001"), TextValue("0.10000000000000000002"), true, "", ""},
		{"gt huge exponent", GreaterThan("1e400"), TextValue("2e400"), true, "", ""},
		{"is beyond int64 differs", Is("18446744073709551617"), TextValue("18446744073709551616"), false, "", ""},
		{"is beyond int64 as float", Is("18446744073709551616"), TextValue("1.8446744073709551616e19"), true, "", ""},
		{"lt numbers", LessThan("10"), TextValue("9"), true, "less than 10", ""},
		{"lt numbers fail", LessThan(9), field("small"), false, "", ""},
		{"lt strings", LessThan("b"), TextValue("a"), true, "", ""},
		{"lt mixed", LessThan("10"), TextValue("x"), false, "", "not a number"},
		{"lt negative", LessThan(0), TextValue("-1"), true, "", ""},

		{"null json null", IsNull[string](), field("leader"), true, "is null", ""},
		{"null json missing", IsNull[string](), field("nope"), true, "", ""},
		{"null json value", IsNull[string](), field("role"), false, "", ""},
		{"null json empty string", IsNull[string](), field("blank"), false, "", ""},
		{"null missing header", IsNull[string](), missingHeader, true, "", ""},
		{"null text", IsNull[string](), TextValue(""), false, "", ""},
		{"not null", Not(IsNull[string]()), field("role"), true, "not is null", ""},

		{"contains", Contains("ead"), field("role"), true, `contains "ead"`, ""},
		{"contains fail", Contains("x"), TextValue("abc"), false, "", ""},
		{"contains null", Contains(""), field("leader"), false, "", ""},
		{"not contains", Not(Contains("panic")), TextValue("ok"), true, `not contains "panic"`, ""},

		{"matches", Matches(`^key not found\n?$`), TextValue("key not found\n"), true, "matches `^key not found\\n?$`", ""},
		{"matches fail", Matches(`^\d+$`), TextValue("12a"), false, "", ""},
		{"matches invalid", Matches(`(`), TextValue("("), false, "", "invalid pattern"},
		{"matches backquote", Matches("`"), TextValue("`"), true, "matches \"`\"", ""},

		{"len array", HasLen[string](3), field("peers"), true, "has length 3", ""},
		{"len array fail", HasLen[string](4), field("peers"), false, "", "length 3"},
		{"len empty array", HasLen[string](0), field("empty"), true, "", ""},
		{"len object", HasLen[string](2), field("obj"), true, "", ""},
		{"len json string runes", HasLen[string](5), field("name"), true, "", ""},
		{"len text runes", HasLen[string](5), TextValue("héllo"), true, "", ""},
		{"len number", HasLen[string](2), field("term"), false, "", "has no length"},
		{"len null", HasLen[string](0), field("leader"), false, "", ""},
		{"len missing", HasLen[string](0), field("nope"), false, "", ""},

		{"one of", OneOf("a", "b"), TextValue("b"), true, `one of "a", "b"`, ""},
		{"one of ints", OneOf(200, 204), TextValue("204"), true, "one of 200, 204", ""},
		{"one of fail", OneOf("a", "b"), TextValue("c"), false, "", ""},
		{"one of null", OneOf(""), field("leader"), false, "", ""},

		{"not", Not(Is(500)), TextValue("200"), true, "not is 500", ""},
		{"not fail", Not(Is(500)), TextValue("500"), false, "", ""},
		{"not not", Not(Not(Is("x"))), TextValue("x"), true, "", ""},

		{"func", MatchFunc[string]("is even", func(v Value) bool { return len(v.Text)%2 == 0 }), TextValue("ab"), true, "is even", ""},
		{"func fail", MatchFunc[string]("is even", func(v Value) bool { return len(v.Text)%2 == 0 }), TextValue("a"), false, "", ""},
		{"bool", Is(true), field("flag"), true, "is true", ""},
		{"bool mismatch", Is(false), field("flag"), false, "is false", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := tc.m.Match(tc.v)
			if ok != tc.want {
				t.Errorf("%v on %v = %v (%s), want %v", tc.m, tc.v, ok, why, tc.want)
			}
			if tc.desc != "" && tc.m.String() != tc.desc {
				t.Errorf("String() = %q, want %q", tc.m.String(), tc.desc)
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
		v    Value
		want string
	}{
		{"status", TextValue("200"), "200"},
		{"text", TextValue("key not found\n"), `"key not found\n"`},
		{"json string", field("role"), `"leader"`},
		{"json number", field("term"), "10"},
		{"json null", field("leader"), "null"},
		{"json missing", field("nope"), "(missing)"},
		{"json array", field("peers"), `["a","b","c"]`},
		{"missing header", Value{Missing: true}, "(missing)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.String(); got != tc.want {
				t.Errorf("String() = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestMatcherTypes is a compile-time check: matchers written for one field
// type can be given to another, as the Starlark binding does with plain
// values.
func TestMatcherTypes(t *testing.T) {
	var status []Matcher[int] = []Matcher[int]{Is(200), Not(Is(500)), OneOf(200, 201), Is[any]("200")}
	var text []Matcher[string] = []Matcher[string]{Is("x"), Is(1), GreaterThan(3), IsNull[string](), HasLen[string](2)}
	if len(status) != 4 || len(text) != 5 {
		t.Fatal("unreachable")
	}
}
