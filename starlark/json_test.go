package starlark

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// TestJSONModule runs go.starlark.net's json module as scripts get it,
// sandboxed or not: its functions work, and a value or a text nested so
// deep that the module would follow it down the runner's stack is
// refused with an error instead.
func TestJSONModule(t *testing.T) {
	tests := []struct {
		name, src, err string
	}{
		{"encode", `x = json.encode({"a": [1, None, True, 1.5, "é"]})
if x != '{"a":[1,null,true,1.5,"é"]}': fail(x)`, ""},
		{"decode", `x = json.decode('{"a": [1, null, "s"]}')
if x != {"a": [1, None, "s"]}: fail(x)`, ""},
		{"decode with a default", `x = json.decode("not json", None)
if x != None: fail(x)`, ""},
		{"decode without a default", `json.decode("not json")`, "json.decode"},
		{"indent", `x = json.indent('{"a":1}', indent = "  ")
if x != '{\n  "a": 1\n}': fail(x)`, ""},
		{"brackets in strings do not nest", `json.decode('["' + "[" * 5000 + '"]')`, ""},
		{"deep enough", `json.decode("[" * 1000 + "]" * 1000)
x = []
for _ in range(999): x = [x]
json.encode(x)`, ""},
		{"a text too deep", `json.decode("[" * 1001 + "]" * 1001)`, "json.decode: a value nested more than 1000 deep"},
		{"an indent too deep", `json.indent("[" * 100000 + "]" * 100000)`, "json.indent: a value nested more than 1000 deep"},
		{"a value too deep", `x = []
for _ in range(1001): x = [x]
json.encode(x)`, "json.encode: a value nested more than 1000 deep"},
		{"a value that contains itself", `x = []
x.append(x)
json.encode_indent(x)`, "json.encode_indent: a value nested more than 1000 deep (or that contains itself)"},
	}
	for _, env := range []struct {
		name string
		env  starlark.StringDict
	}{{"trusted", predeclared}, {"sandboxed", sandboxPredeclared}} {
		for _, tc := range tests {
			t.Run(env.name+"/"+tc.name, func(t *testing.T) {
				thread := &starlark.Thread{Name: tc.name}
				opts := &syntax.FileOptions{TopLevelControl: true, GlobalReassign: true}
				_, err := starlark.ExecFileOptions(opts, thread, tc.name+".star", tc.src, env.env)
				switch {
				case tc.err == "" && err != nil:
					t.Fatalf("%v", err)
				case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
					t.Fatalf("error %v; want one containing %q", err, tc.err)
				}
			})
		}
	}
}
