package stdlib_test

import (
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.starlark.net/syntax"

	"github.com/clstr-dev/clstr/starlark/starlarktest"
	"github.com/clstr-dev/clstr/stdlib"
)

// TestModules runs the scripts of testdata against the fake target: each
// helper is used where it passes and, in the scripts that must fail, where
// it must catch a planted bug.
func TestModules(t *testing.T) {
	starlarktest.RunScripts(t, "testdata/*.star")
}

// publicFunctions returns, for every module, its public functions and
// whether each has a docstring.
func publicFunctions(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	mods, err := fs.Glob(stdlib.FS, "*.star")
	if err != nil || len(mods) == 0 {
		t.Fatalf("no modules: %v", err)
	}
	for _, m := range mods {
		src, err := fs.ReadFile(stdlib.FS, m)
		if err != nil {
			t.Fatal(err)
		}
		f, err := (&syntax.FileOptions{}).Parse(m, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		out[m] = map[string]bool{}
		for _, st := range f.Stmts {
			def, ok := st.(*syntax.DefStmt)
			if !ok || strings.HasPrefix(def.Name.Name, "_") {
				continue
			}
			doc := false
			if len(def.Body) > 0 {
				if e, ok := def.Body[0].(*syntax.ExprStmt); ok {
					if lit, ok := e.X.(*syntax.Literal); ok && lit.Token == syntax.STRING {
						doc = strings.TrimSpace(lit.Value.(string)) != ""
					}
				}
			}
			out[m][def.Name.Name] = doc
		}
	}
	return out
}

// TestDocstrings checks that every public function of every module says
// what it does.
func TestDocstrings(t *testing.T) {
	for mod, fns := range publicFunctions(t) {
		for fn, doc := range fns {
			if !doc {
				t.Errorf("%s: %s has no docstring", mod, fn)
			}
		}
	}
}

// TestDocumented checks that docs/scripting.md lists every module and
// public function of the stdlib.
func TestDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/scripting.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for mod, fns := range publicFunctions(t) {
		if !strings.Contains(doc, "@stdlib//"+mod) {
			t.Errorf("docs/scripting.md does not mention @stdlib//%s", mod)
		}
		for fn := range fns {
			if !regexp.MustCompile("`" + regexp.QuoteMeta(fn) + `\(`).MatchString(doc) {
				t.Errorf("docs/scripting.md does not document %s of %s as `%s(…`", fn, mod, fn)
			}
		}
	}
}
