package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/internal/junit/junittest"
)

// TestJUnitFlag checks the mistakes in using --junit, on the commands
// that have it.
func TestJUnitFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--watch", "--junit", "j.xml", "none.star"}, "run: --junit reports a single run; leave out --watch"},
		{[]string{"run", "--junit=", "none.star"}, "run: --junit needs the name of the file to write"},
		{[]string{"test", "--junit="}, "test: --junit needs the name of the file to write"},
		{[]string{"next", "--junit="}, "next: --junit needs the name of the file to write"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Chdir(t.TempDir())
			var stdout, stderr bytes.Buffer
			status := run(context.Background(), append([]string{"clstr"}, tc.args...), &stdout, &stderr)
			if status != exitError || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("status %d, stderr %q; want %d and %q", status, stderr.String(), exitError, tc.want)
			}
			if _, err := os.Stat("j.xml"); err == nil {
				t.Errorf("a usage error wrote the report")
			}
		})
	}
}

// TestRunJUnit runs clstr run --junit against the test node in a real
// container, once passing and once failing, and reads the reports.
func TestRunJUnit(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	script := `suite()
test("stores", lambda: put("n1", "/kv/a", "1").status(200).run())
test("reads", lambda: get("n1", "/kv/a").status(200).body(BODY).hint("Serve what was stored.").run())
test("echoes", lambda: post("n1", "/echo", "hi").status(200).run())
`
	tests := []struct {
		name, body string
		status     int
		counts     [4]int // tests, failures, errors, skipped
		kinds      []string
	}{
		{"passing", `"1"`, exitPass, [4]int{3, 0, 0, 0}, []string{"passed", "passed", "passed"}},
		{"failing", `"2"`, exitFail, [4]int{3, 1, 0, 1}, []string{"passed", "failure", "skipped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := clstrRun(t, map[string]string{"s.star": strings.Replace(script, "BODY", tc.body, 1)}, nil,
				"run", "--binary", testnode, "--junit", "reports/junit.xml", "s.star")
			if res.status != tc.status {
				t.Fatalf("exit status %d; want %d\nstdout:\n%s\nstderr:\n%s", res.status, tc.status, res.stdout, res.stderr)
			}
			doc := junittest.Read(t, filepath.Join(res.dir, "reports/junit.xml"))
			junittest.CheckCounts(t, "testsuites", doc.Counts, tc.counts[0], tc.counts[1], tc.counts[2], tc.counts[3])
			if len(doc.Suites) != 1 {
				t.Fatalf("%d suites; want 1", len(doc.Suites))
			}
			s := doc.Suites[0]
			junittest.CheckCounts(t, "testsuite", s.Counts, tc.counts[0], tc.counts[1], tc.counts[2], tc.counts[3])
			if s.Name != "s.star" || len(s.Cases) != len(tc.kinds) {
				t.Fatalf("suite %q with %d cases; want s.star with %d", s.Name, len(s.Cases), len(tc.kinds))
			}
			for i, c := range s.Cases {
				if c.Kind() != tc.kinds[i] || c.Classname != "s.star" {
					t.Errorf("case %q (class %q): %s; want %s", c.Name, c.Classname, c.Kind(), tc.kinds[i])
				}
			}
			if tc.status == exitFail {
				f := s.Cases[1]
				assertContains(t, "failure", f.Failure.Text, "s.star:3:", "n1 ✗ GET http://127.0.0.1:", "expected body is 2, got 1", "hint: Serve what was stored.")
				if f.SystemOut == nil {
					t.Fatal("the failed test has no system-out")
				}
				assertContains(t, "system-out", *f.SystemOut, "==> .clstr/logs/events.log", "[TEST: reads]", "==> .clstr/logs/n1.log")
			}
		})
	}
}

// TestJUnitScriptDoesNotLoad checks that a script with a syntax error is
// in the report as an error, and that no cluster was needed to say so.
func TestJUnitScriptDoesNotLoad(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("bad.star", []byte("suite()\n\ndef t(:\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), []string{"clstr", "run", "--binary", "bad.star", "--junit", "j.xml", "bad.star"}, &stdout, &stderr)
	if status != exitError {
		t.Fatalf("status %d; want %d\nstderr:\n%s", status, exitError, stderr.String())
	}
	assertContains(t, "stderr", stderr.String(), "bad.star:3:8: got ':', want ')'")
	doc := junittest.Read(t, "j.xml")
	junittest.CheckCounts(t, "testsuites", doc.Counts, 1, 0, 1, 0)
	if doc.Suites[0].Name != "bad.star" {
		t.Errorf("suite %q; want bad.star", doc.Suites[0].Name)
	}
	junittest.CheckCases(t, doc.Suites[0], "bad.star", []junittest.Want{
		{Name: "the script did not load", Kind: "error", Message: "bad.star:3:8: got ':', want ')'", Text: []string{"bad.star:3:8: got ':', want ')'\n"}},
	})
	if _, err := os.Stat(".clstr"); err == nil {
		t.Errorf("a script that does not compile created .clstr/")
	}
}
