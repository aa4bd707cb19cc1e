package starlark_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/stdlib"
)

// TestVetFlagsChecksNeverRun checks that Vet reports a statement that
// builds a check and drops it, and nothing that keeps a check.
func TestVetFlagsChecksNeverRun(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each a line of the error; none: clean
	}{
		{"status without run", "def t():\n    get(\"n1\", \"/health\").status(500)\n",
			[]string{"s.star:2:32: get(…).status(…) builds a check and never runs it, so it sends nothing and checks nothing: add .run()"}},
		{"a bare request", "def t():\n    put(\"n1\", \"/kv/x\", \"v\")\n",
			[]string{"s.star:2:8: put(…) builds a check and never runs it"}},
		{"a long chain", "def t():\n    delete(\"n1\", \"/kv/x\").status(200).hint(\"h\").eventually(\"1s\")\n",
			[]string{"s.star:2:59: delete(…).status(…).hint(…).eventually(…) builds a check"}},
		{"every one, nested and at the top level", "def t():\n    if True:\n        get(\"n1\", \"/a\").status(200)\n    [post(\"n1\", \"/b\").status(200) for _ in range(2)]\n\npatch(\"n1\", \"/c\")\n",
			[]string{"s.star:3:31:", "s.star:4:29:", "s.star:6:6:"}},
		{"run", "def t():\n    get(\"n1\", \"/health\").status(200).run()\n", nil},
		{"kept in a variable", "def t():\n    c = get(\"n1\", \"/health\").status(200)\n    c.run()\n", nil},
		{"returned", "def t():\n    return get(\"n1\", \"/health\").status(200)\n", nil},
		{"in a lambda", "f = lambda: get(\"n1\", \"/health\").status(200)\n", nil},
		{"appended", "def t():\n    l = []\n    l.append(get(\"n1\", \"/health\"))\n", nil},
		{"a function of the script's own named get", "def get(a, b):\n    return a\n\ndef t():\n    get(1, 2).status(1)\n", nil},
		{"a response's json", "def t():\n    r = get(\"n1\", \"/x\").run()\n    r.json(\"a\")\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.star")
			if err := os.WriteFile(p, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			err := starlark.Vet(p, starlark.Options{Stdlib: stdlib.FS})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Vet: %v; want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Vet found nothing; want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("Vet:\n%v\nwant %d lines", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d: %q does not contain %q", i+1, lines[i], w)
				}
			}
		})
	}
}
