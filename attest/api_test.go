package attest_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exported is every exported top-level name of package attest: the names
// of the original attest API, and the few of clstr's that a suite is
// written with. A suite dot-imports attest, as the original reference
// recommends, so each of them is a name the suite cannot declare itself.
var exported = []string{
	// The original attest API.
	"Check",
	"Contains",
	"DefaultNodeShutdownTimeout",
	"DefaultNodeStartTimeout",
	"DefaultRequestTimeout",
	"DefaultRetryTimeout",
	"Delay",
	"Do",
	"Duplicate",
	"FetchResponse",
	"GreaterThan",
	"H",
	"HasLen",
	"Impairment",
	"Is",
	"IsNull",
	"LessThan",
	"Loss",
	"Matcher",
	"Matches",
	"New",
	"Node",
	"NodeSelector",
	"Not",
	"OneOf",
	"Option",
	"Reorder",
	"Suite",
	"WithCluster",
	"WithClusterSettleDuration",
	"WithNodeShutdownTimeout",
	"WithNodeStartTimeout",
	"WithNodeStartupTimeout",
	"WithRequestTimeout",
	"WithRetryTimeout",

	// clstr's additions that suites call.
	"ClientOptions", // Do.Clients
	"MatchFunc",     // a matcher from a function
	"Ops",           // Do.Ops, the error-returning operations
	"Traffic",       // Do.Traffic, what nodes sent each other
	"WithConcurrencyLimit",
	"WithDurability", // a suite whose nodes can lose power
	"WithMaxBody",
	"WithPollInterval",
	"WithSettle",
	"WithSpare",
}

// TestExportedNames keeps package attest's exported names to the list
// above, so that the engine's own types (results, failures, responses,
// configuration) stay in package engine and out of every suite's file.
func TestExportedNames(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var got []string
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					got = append(got, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							got = append(got, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								got = append(got, n.Name)
							}
						}
					}
				}
			}
		}
	}
	if len(got) == 0 {
		t.Fatal("found no exported names in package attest")
	}
	var extra, missing []string
	for _, n := range got {
		if !slices.Contains(exported, n) {
			extra = append(extra, n)
		}
	}
	for _, n := range exported {
		if !slices.Contains(got, n) {
			missing = append(missing, n)
		}
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		t.Errorf("package attest exports names that are not in the list of api_test.go: %s.\n"+
			"Suites dot-import attest, so a suite that declares a name attest exports does not compile.\n"+
			"Put what only front ends use (results, failures, configuration, reporting) in package attest/engine, "+
			"unexport what only attest uses, or, if suite writers need the name, add it to the list.",
			strings.Join(extra, ", "))
	}
	if len(missing) > 0 {
		t.Errorf("package attest no longer exports %s: the original attest API and suites written with it need them; "+
			"if the removal is deliberate, take the names off the list of api_test.go.",
			strings.Join(missing, ", "))
	}
}
