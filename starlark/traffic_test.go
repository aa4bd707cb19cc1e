package starlark_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
)

// TestTrafficMisuse checks that traffic() and its value refuse wrong
// arguments as errors of the script, at the call, saying what to give.
func TestTrafficMisuse(t *testing.T) {
	tests := []struct {
		name, expr, want string
		uncounted        bool // on a runtime that cannot count
	}{
		{"since not a reading", "traffic(1)", "traffic: since: want a reading, as traffic() without since returns it, got int", false},
		{"since a difference", "traffic(since = traffic(since = traffic()))", "traffic: since: want a reading, as traffic() without since returns it; this is the traffic since another reading", false},
		{"an unknown keyword", "traffic(after = 1)", `traffic: unexpected keyword argument "after"`, false},
		{"between one side", `traffic().between("n1")`, "between: missing argument for dst", false},
		{"between an unknown node", `traffic().between("n1", "n9")`, `between: no node named "n9" in this cluster (nodes: n1)`, false},
		{"between a number", `traffic().between(1, "n1")`, `between: src: want a node name such as "n1" or a list of names, got int`, false},
		{"between a selector", `traffic().between("n1", all_nodes())`, `between: dst: want a node name such as "n1" or a list of names, got selector`, false},
		{"between a list of numbers", `traffic().between(["n1", 2], "n1")`, "between: src: want node names, got int in the list", false},
		{"per nothing", "traffic().per(0)", "per: n must be a number above 0 (how many operations the traffic served), got 0", false},
		{"per a string", `traffic().per("2")`, `per: n must be a number above 0 (how many operations the traffic served), got "2"`, false},
		{"a runtime that cannot count", "traffic()", "counting traffic needs the Docker runtime: this runtime cannot see what its nodes send each other", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt := starlarktest.New().Runtime
			if tc.uncounted {
				rt.Traffic = nil
			}
			v, out := runTest(t, tc.expr, rt)
			if v != engine.VerdictError {
				t.Fatalf("verdict %v; want an error of the script:\n%s", v, out)
			}
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "check.star:3:") {
				t.Errorf("error:\n%s\nwant it at check.star:3 and to contain %q", out, tc.want)
			}
		})
	}
}

// TestVetKnowsTraffic checks that clstr check knows a traffic value's
// attributes, and the ones it does not have.
func TestVetKnowsTraffic(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.star")
	typo := filepath.Join(dir, "typo.star")
	writeFiles(t, dir, map[string]string{
		"ok.star": "def f():\n    m = traffic()\n    t = traffic(since = m)\n" +
			"    return [t.packets, t.bytes, t.seconds, t.pairs, t.between(\"n1\", \"n2\").packets, t.per(2).bytes]\n",
		"typo.star": "def f():\n    return traffic().packts\n",
	})
	if err := starlark.Vet(ok, starlark.Options{}); err != nil {
		t.Errorf("Vet: %v; want no error", err)
	}
	err := starlark.Vet(typo, starlark.Options{})
	if err == nil || !strings.Contains(err.Error(), "no value has an attribute packts (did you mean packets?)") {
		t.Errorf("Vet: %v; want the typo found", err)
	}
}
