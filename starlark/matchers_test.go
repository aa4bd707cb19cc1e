package starlark_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
)

// runCheck runs one check, given as the modifiers that follow
// get("n1", path), in a one-test script against the fake target.
func runCheck(t *testing.T, path, modifiers string) (engine.Verdict, string) {
	t.Helper()
	return runTest(t, "get(\"n1\", \""+path+"\")"+modifiers+".run()", starlarktest.New().Runtime)
}

// runTest runs expr as the one test of a script, check.star, against rt,
// and returns the verdict and the failure as Format writes it.
func runTest(t *testing.T, expr string, rt *attesttest.Runtime) (engine.Verdict, string) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "check.star")
	src := "suite(poll_interval = \"5ms\")\n\ntest(\"t\", lambda: " + expr + ")\n"
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := starlark.Load(script, starlark.Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	res := s.Suite().Run(context.Background(), engine.RunOptions{Runtime: rt})
	var out bytes.Buffer
	var f *engine.Failure
	if errors.As(res.FirstError(), &f) {
		f.Format(&out, false)
	} else if err := res.FirstError(); err != nil {
		out.WriteString(err.Error())
	}
	return res.Verdict(), out.String()
}

// TestMatchersFail checks that every matcher, and every way of writing
// one, fails where it should, saying what it expected.
func TestMatchersFail(t *testing.T) {
	tests := []struct {
		name, path, modifiers, want string
	}{
		{"plain int", "/status/201", ".status(200)", "expected status is 200, got 201"},
		{"eq", "/json", `.json("int", eq(4))`, `expected JSON "int" is 4, got 3`},
		{"eq text", "/json", `.json("str", "x")`, `expected JSON "str" is "x", got "x y"`},
		{"eq bool", "/json", `.json("yes", False)`, `expected JSON "yes" is false, got true`},
		{"eq None", "/json", `.json("int", None)`, `expected JSON "int" is null, got 3`},
		{"eq list", "/json", `.json("list", [1, "a"])`, `expected JSON "list" is [1,"a"], got [1,"a",null]`},
		{"eq dict", "/json", `.json("obj", {"a": [2], "b": 2})`, `expected JSON "obj" is {"a":[2],"b":2}, got {"b":1,"a":[2]}`},
		{"null is not equal", "/json", `.json("null", eq(0))`, `expected JSON "null" is 0, got null`},
		{"gt", "/json", `.json("int", gt(3))`, `expected JSON "int" greater than 3, got 3`},
		{"gt as numbers", "/json", `.json("int", gt("10"))`, `expected JSON "int" greater than 10, got 3`},
		{"gt of text", "/json", `.json("str", gt(1))`, `expected JSON "str" greater than 1, got "x y" (not a number)`},
		{"lt", "/json", `.json("float", lt(1.5))`, `expected JSON "float" less than 1.5, got 1.5`},
		{"is_null", "/json", `.json("int", is_null())`, `expected JSON "int" is null, got 3`},
		{"contains", "/status/404", `.body(contains("found"))`, `expected body contains "found", got "status 404"`},
		{"matches", "/status/404", `.body(matches("^status 40[0-3]$"))`, "expected body matches `^status 40[0-3]$`"},
		{"has_len", "/json", `.json("list", has_len(2))`, `expected JSON "list" has length 2, got [1,"a",null] (length 3)`},
		{"has_len of a number", "/json", `.json("int", has_len(1))`, `(has no length)`},
		{"one_of", "/json", `.json("str", one_of("a", "b"))`, `expected JSON "str" one of "a", "b", got "x y"`},
		{"not_", "/json", `.json("int", not_(3))`, `expected JSON "int" not is 3, got 3`},
		{"several matchers", "/json", `.json("int", gt(1), lt(3))`, `expected JSON "int" less than 3, got 3`},
		{"json exists", "/json", `.json("nothing")`, `expected JSON "nothing" not is null, got (missing)`},
		{"header", "/headers", `.header("X-One", "2")`, `expected header X-One is 2, got 1`},
		{"header exists", "/headers", `.header("X-None")`, `expected header X-None not is null, got (missing)`},
		{"body not JSON", "/status/200", `.json("a", 1)`, `expected JSON "a" is 1, but the body is not JSON`},
		{"eventually", "/count", `.body(gt(1000)).eventually("30ms")`, "did not pass within 30ms"},
		{"consistently", "/count", `.body(lt(3)).consistently("1s")`, "expected body less than 3, got 3"},
		{"gt beyond int64", "/json", `.json("big", gt(12345678901234567890))`, `expected JSON "big" greater than 12345678901234567890, got 12345678901234567890`},
		{"lt beyond int64", "/json", `.json("big", lt(12345678901234567890))`, `expected JSON "big" less than 12345678901234567890`},
		{"eq beyond int64", "/json", `.json("big", 12345678901234567891)`, `expected JSON "big" is 12345678901234567891`},
		{"a check that passes", "/health", `.status(200)`, ""},
		{"gt beyond int64 passes", "/json", `.json("big", gt(12345678901234567889), lt(12345678901234567891))`, ""},
		{"eq bool passes", "/json", `.json("yes", True).json("no", False)`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, out := runCheck(t, tc.path, tc.modifiers)
			if tc.want == "" {
				if v != engine.VerdictPass {
					t.Fatalf("verdict %v; want a pass:\n%s", v, out)
				}
				return
			}
			if v != engine.VerdictFail {
				t.Fatalf("verdict %v; want the target to fail:\n%s", v, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("failure:\n%s\nwant it to contain %q", out, tc.want)
			}
		})
	}
}

// TestMisuse checks that builtins given wrong arguments are errors of the
// script, reported where they are called and naming what to do.
func TestMisuse(t *testing.T) {
	tests := []struct {
		name, modifiers, want string
	}{
		{"status without matchers", ".status()", "status: give at least one matcher or value"},
		{"matcher of a wrong type", ".status(print)", "status: argument 1: want a matcher or a value to compare with"},
		{"json without a path", ".json()", "json: missing argument for path"},
		{"timeout not a string", ".eventually(3)", `eventually: for parameter timeout: want a duration such as "250ms" or "3s", got int 3`},
		{"negative timeout", `.eventually("-1s")`, `duration "-1s" cannot be negative`},
		{"zero timeout", `.consistently("0s")`, "consistently: timeout 0s must be positive"},
		{"run with arguments", ".hint(1)", `hint: for parameter text: got int, want string`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, out := runCheck(t, "/health", tc.modifiers)
			if v != engine.VerdictError {
				t.Fatalf("verdict %v; want an error of the script:\n%s", v, out)
			}
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "check.star:3:") {
				t.Errorf("error:\n%s\nwant it at check.star:3 and to contain %q", out, tc.want)
			}
		})
	}
}
