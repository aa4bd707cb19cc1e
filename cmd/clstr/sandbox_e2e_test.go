package main

import (
	"strings"
	"testing"
)

// countScript takes 2 million steps or so: more than --max-steps 100000
// allows, nothing for a trusted run.
const countScript = `suite(cluster = 1)

def count():
    n = 0
    for i in range(1000000):
        n += 1
    get("n1", "/health").status(200).run()

test("counts", count)
`

// TestRunSandboxed runs a script that exceeds a limit: sandboxed (the
// default) it stops with one message naming the limit and its flag and
// exit status 2; with --trust the same script passes.
func TestRunSandboxed(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	files := map[string]string{"count.star": countScript}
	res := clstrRun(t, files, nil, "run", "--binary", testnode, "--max-steps", "100000", "count.star")
	out := res.stdout + res.stderr
	if res.status != exitError {
		t.Errorf("exit status %d; want %d\n%s", res.status, exitError, out)
	}
	msg := `limit: execution steps (100000) exceeded in test "counts"; raise it with --max-steps or pass --trust for a challenge you trust`
	if n := strings.Count(out, msg); n != 1 {
		t.Errorf("the output says %q %d times; want once:\n%s", msg, n, out)
	}

	res = clstrRun(t, files, nil, "run", "--binary", testnode, "--max-steps", "100000", "--trust", "count.star")
	if res.status != exitPass {
		t.Errorf("with --trust: exit status %d; want %d\n%s%s", res.status, exitPass, res.stdout, res.stderr)
	}
}

func TestRunSandboxUsage(t *testing.T) {
	_, testnode := binaries(t)
	files := map[string]string{"count.star": countScript}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-steps", "lots"}, `--max-steps "lots": want a positive whole number`},
		{[]string{"--max-memory", "1 ton"}, `--max-memory "1 ton": want a positive size`},
		{[]string{"--max-test-time", "-1s"}, `--max-test-time "-1s": want a positive duration`},
		{[]string{"--node-cpus", "none"}, `--node-cpus "none": want a number of CPUs`},
	} {
		args := append(append([]string{"run", "--binary", testnode}, tc.args...), "count.star")
		res := clstrRun(t, files, nil, args...)
		if res.status != exitError || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("clstr %s: status %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), res.status, res.stderr, exitError, tc.want)
		}
	}
}
