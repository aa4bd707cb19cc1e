package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	var b bytes.Buffer
	writeList(&b, &output{w: &b}, testRegistry())
	want := `echo  Echo · 3 stages
  Answer, then answer again.
  1. health  Answer Health Checks
  2. echo    Echo Requests
  3. again   Echo Again

Start one with: clstr init echo
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestStatus(t *testing.T) {
	reg := testRegistry()
	c, _ := reg.Lookup("echo")
	tests := []struct {
		index int
		want  []string
	}{
		{0, []string{"→ 1. health", "· 2. echo", "· 3. again", "0 of 3 stages passed. Current stage: health."}},
		{1, []string{"✓ 1. health", "→ 2. echo", "· 3. again", "1 of 3 stages passed. Current stage: echo."}},
		{2, []string{"✓ 1. health", "✓ 2. echo", "→ 3. again", "2 of 3 stages passed. Current stage: again."}},
	}
	done := []string{"✓ 1. health", "✓ 2. echo", "✓ 3. again", "All 3 stages passed: echo is done.", "clstr test --so-far"}
	for _, tc := range tests {
		t.Run(c.Stages[tc.index].Key, func(t *testing.T) {
			var b bytes.Buffer
			w := &workspace{progress: progress{"echo", c.Stages[tc.index].Key}, challenge: c, index: tc.index}
			writeStatus(&b, &output{w: &b}, w)
			for _, want := range append(tc.want, "Echo (echo)") {
				if !strings.Contains(b.String(), want) {
					t.Errorf("status does not contain %q:\n%s", want, b.String())
				}
			}
		})
	}
	t.Run("done", func(t *testing.T) {
		var b bytes.Buffer
		w := &workspace{progress: progress{"echo", "again"}, challenge: c, index: 2, done: true}
		writeStatus(&b, &output{w: &b}, w)
		for _, want := range done {
			if !strings.Contains(b.String(), want) {
				t.Errorf("status does not contain %q:\n%s", want, b.String())
			}
		}
	})
}

func TestAdvanceSaysWhatIsNext(t *testing.T) {
	reg := testRegistry()
	tests := []struct {
		stage     string
		wantStage string // clstr.yaml's stage afterwards
		want      []string
	}{
		{"health", "echo", []string{"Stage 1 passed. Next, stage 2 of 3: Echo Requests (echo)", `README.md, section "2. Echo Requests (echo)"`}},
		{"again", "again", []string{"You have passed every stage of Echo. Congratulations!"}},
	}
	for _, tc := range tests {
		t.Run(tc.stage, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, progressFile)
			if err := os.WriteFile(path, progress{"echo", tc.stage}.encode(), 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := openWorkspace(dir, reg)
			if err != nil {
				t.Fatal(err)
			}
			var b, stderr bytes.Buffer
			if err := advance(&stderr, &output{w: &b}, w); err != nil {
				t.Fatalf("%v: %s", err, stderr.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(b.String(), want) {
					t.Errorf("output does not contain %q:\n%s", want, b.String())
				}
			}
			data, _ := os.ReadFile(path)
			if p, err := parseProgress(data); err != nil || p.Stage != tc.wantStage {
				t.Errorf("clstr.yaml afterwards: %q, %v; want stage %s", data, err, tc.wantStage)
			}
			last := tc.stage == "again"
			if again, err := openWorkspace(dir, reg); err != nil || again.done != last {
				t.Errorf("after the stage passed, done = %v (%v); want %v:\n%s", again != nil && again.done, err, last, data)
			}
		})
	}
}

// TestNextWhenDone: once the last stage passed, next says so and runs
// nothing (no Docker is asked), and status shows every stage passed.
func TestNextWhenDone(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	if err := os.WriteFile(progressFile, []byte("challenge: kv-store\nstage: joint-consensus\ndone: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	status, stdout, stderr := clstrHere("next")
	if status != 0 {
		t.Fatalf("next: status %d\n%s%s", status, stdout, stderr)
	}
	assertContains(t, "next", stdout, "You have passed every stage of", "no next stage", "clstr test --so-far")
	_, stdout, _ = clstrHere("status")
	assertContains(t, "status", stdout, "✓ 8. joint-consensus", "All 8 stages passed: kv-store is done.")
}

func TestLearnerUsage(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(progressFile, progress{"kv-store", "http-api"}.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"test", "--binary", "x", "--image", "y"}, "test: give --binary or --image, not both"},
		{[]string{"next", "--binary", "x", "--image", "y"}, "next: give --binary or --image, not both"},
		{[]string{"test", "no-such-stage"}, `test: kv-store has no stage "no-such-stage"; its stages are http-api, persistence`},
		{[]string{"test", "a", "b"}, "test: give at most one stage"},
		{[]string{"next", "a"}, "next: takes no arguments"},
		{[]string{"test", "--binary", "missing"}, "--binary missing is not a file"},
		{[]string{"status", "x"}, "status: takes no arguments"},
		{[]string{"init"}, "init: give a challenge"},
		{[]string{"logs", "../x"}, `logs: "../x" is not a node name`},
		{[]string{"test", "--run", "("}, `test: --run "(" is not a regular expression`},
		{[]string{"test", "--run", "zzz"}, `test: --run "zzz" matches none of the tests of http-api: PUT Stores Values, `},
		{[]string{"test", "--so-far", "--run", "PUT"}, "test: --run picks tests of one stage; leave out --so-far"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := run(context.Background(), append([]string{"clstr"}, tc.args...), &stdout, &stderr)
			if status != exitError || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", status, stderr.String(), tc.want)
			}
		})
	}
}
