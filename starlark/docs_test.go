package starlark

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/clstr-dev/clstr/attest"
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
	for _, a := range responseAttrs {
		want = append(want, a.Signature)
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
	r := newResponse(&attest.Response{Header: http.Header{}}, "/")
	for _, a := range responseAttrs {
		if v, err := r.Attr(a.Name); v == nil || err != nil {
			t.Errorf("response has no attribute %s", a.Name)
		}
	}
	if len(r.AttrNames()) != len(responseAttrs) {
		t.Errorf("response has %d attributes, the table %d", len(r.AttrNames()), len(responseAttrs))
	}
	for _, name := range predeclared.Keys() {
		found := false
		for _, b := range builtins {
			found = found || b.Name == name
		}
		if !found {
			t.Errorf("predeclared %s is not in the table", name)
		}
	}
	if len(predeclared) != len(builtins) {
		t.Errorf("%d predeclared names, %d builtins in the table", len(predeclared), len(builtins))
	}
}
