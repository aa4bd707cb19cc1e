package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/internal/junit/junittest"
)

// TestJUnitNothingRan checks that every way a command can end before a
// verdict still leaves a JUnit report that says why: a CI job that asked
// for one reads an error, never a missing or stale file.
func TestJUnitNothingRan(t *testing.T) {
	_, testnode := binaries(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "greet-challenge")
	must(t, os.MkdirAll(src, 0o755))
	writeFiles(t, src, greetChallenge)
	wantStatus(t, clstrIn(t, dir, "init", "greet-challenge", "ws"), 0)
	ws := filepath.Join(dir, "ws")
	noDaemon := []string{"DOCKER_HOST=unix://" + filepath.Join(dir, "no-daemon.sock")}
	script := filepath.Join(dir, "s.star")
	must(t, os.WriteFile(script, []byte("suite()\ntest(\"t\", lambda: None)\n"), 0o644))

	tests := []struct {
		name         string
		env          []string
		args         []string
		before       func(t *testing.T)
		suite, class string
		what, text   string
		notRun       []string // the tests of what loaded, skipped
	}{
		{name: "a target that cannot run", args: []string{"test", "--binary", script},
			suite: "clstr.yaml", class: "clstr.yaml", what: "the run did not start", text: "s.star"},
		{name: "no Docker daemon", env: noDaemon, args: []string{"test", "--binary", testnode},
			suite: "health", class: "greet/health", what: "the run did not start", text: "cannot reach the Docker daemon",
			notRun: []string{"Health Answers 200"}},
		{name: "no Docker daemon for the stages so far", env: noDaemon, args: []string{"test", "--so-far", "missing", "--binary", testnode},
			suite: "health", class: "greet/health", what: "the run did not start", text: "cannot reach the Docker daemon"},
		{name: "a stage that no longer loads", args: []string{"next", "--binary", testnode},
			before: func(t *testing.T) {
				must(t, os.WriteFile(filepath.Join(src, "missing.star"), []byte("suite()\n\ndef t(:\n    pass\n"), 0o644))
			},
			suite: "clstr.yaml", class: "clstr.yaml", what: "the workspace did not open", text: "missing.star:3:8: got ':', want ')'"},
		{name: "a script run on no daemon", env: noDaemon, args: []string{"run", "--binary", testnode, script},
			suite: script, class: script, what: "the run did not start", text: "cannot reach the Docker daemon", notRun: []string{"t"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			report := filepath.Join(t.TempDir(), "junit.xml")
			res := clstrInEnv(t, ws, tc.env, append(tc.args, "--junit", report)...)
			wantStatus(t, res, 2)
			doc := junittest.Read(t, report)
			n := len(tc.notRun)
			junittest.CheckCounts(t, "testsuites", doc.Counts, 1+n, 0, 1, n)
			if len(doc.Suites) != 1 || doc.Suites[0].Name != tc.suite {
				t.Fatalf("suites %+v; want one named %q", doc.Suites, tc.suite)
			}
			s := doc.Suites[0]
			want := []junittest.Want{{Name: tc.what, Kind: "error", Text: []string{tc.text}}}
			for _, name := range tc.notRun {
				want = append(want, junittest.Want{Name: name, Kind: "skipped", Message: "not run: the run did not start"})
			}
			junittest.CheckCases(t, s, tc.class, want)
			if !strings.Contains(res.stderr, tc.text) {
				t.Errorf("stderr does not say %q:\n%s", tc.text, res.stderr)
			}
		})
	}
}
