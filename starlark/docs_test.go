package starlark

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// TestReference checks that docs/scripting.md documents, as a heading
// "### `signature`", every builtin of the table, every method of a check
// and every field and method of a response — and nothing else.
func TestReference(t *testing.T) {
	b, err := os.ReadFile("../docs/scripting.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := regexp.MustCompile("(?m)^### `([^`]+)`\\s*$").FindAllStringSubmatch(string(b), -1)
	var documented []string
	for _, h := range headings {
		if regexp.MustCompile(`^[a-z_]+[.(]`).MatchString(h[1]) {
			documented = append(documented, h[1])
		}
	}
	var want []string
	for _, bi := range builtins {
		want = append(want, bi.Signature)
	}
	for _, m := range checkMethods {
		want = append(want, m.Signature)
	}
	for _, table := range [][]Builtin{responseAttrs, historyAttrs, opAttrs, trafficAttrs} {
		for _, a := range table {
			want = append(want, a.Signature)
		}
	}
	for _, w := range want {
		if !slices.Contains(documented, w) {
			t.Errorf("docs/scripting.md has no heading ### `%s`", w)
		}
	}
	for _, d := range documented {
		if !slices.Contains(want, d) {
			t.Errorf("docs/scripting.md documents ### `%s`, which is not in the table of builtins", d)
		}
	}
	if len(documented) != len(want) {
		t.Errorf("docs/scripting.md has %d reference headings; the tables have %d entries", len(documented), len(want))
	}
}

// TestTables checks that the tables agree with the values: every check
// method and response attribute in the table exists, and no other.
func TestTables(t *testing.T) {
	c := &check{}
	for _, m := range checkMethods {
		if v, err := c.Attr(m.Name); v == nil || err != nil {
			t.Errorf("check has no method %s", m.Name)
		}
	}
	if v, _ := c.Attr("nope"); v != nil {
		t.Errorf("check has an attribute nope")
	}
	r := newResponse(&engine.Response{Header: http.Header{}}, "/")
	for _, a := range responseAttrs {
		if v, err := r.Attr(a.Name); v == nil || err != nil {
			t.Errorf("response has no attribute %s", a.Name)
		}
	}
	if len(r.AttrNames()) != len(responseAttrs) {
		t.Errorf("response has %d attributes, the table %d", len(r.AttrNames()), len(responseAttrs))
	}
	functions := 0
	for _, name := range predeclared.Keys() {
		if m, ok := predeclared[name].(*starlarkstruct.Module); ok {
			functions += len(m.Members)
			for member := range m.Members {
				if !slices.ContainsFunc(builtins, func(b Builtin) bool { return b.Name == name+"."+member }) {
					t.Errorf("predeclared %s.%s is not in the table", name, member)
				}
			}
			continue
		}
		functions++
		if !slices.ContainsFunc(builtins, func(b Builtin) bool { return b.Name == name }) {
			t.Errorf("predeclared %s is not in the table", name)
		}
	}
	if functions != len(builtins) {
		t.Errorf("%d predeclared functions, %d builtins in the table", functions, len(builtins))
	}
	h := newHistory(history.History{Ops: []history.Op{{}}})
	for _, table := range []struct {
		name  string
		value starlark.HasAttrs
		attrs []Builtin
	}{{"history", h, historyAttrs}, {"operation", h.ops[0].(starlark.HasAttrs), opAttrs}, {"traffic", &trafficValue{}, trafficAttrs}} {
		for _, a := range table.attrs {
			if v, err := table.value.Attr(a.Name); v == nil || err != nil {
				t.Errorf("%s has no attribute %s", table.name, a.Name)
			}
		}
		if len(table.value.AttrNames()) != len(table.attrs) {
			t.Errorf("%s has %d attributes, the table %d", table.name, len(table.value.AttrNames()), len(table.attrs))
		}
	}
}
