package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFirstMistakes makes the mistakes a newcomer makes first, with no
// Docker daemon to reach: each gets one line that names it, suggests what
// was meant where something near exists, and exits 2 before Docker is
// asked anything.
func TestFirstMistakes(t *testing.T) {
	clstr, testnode := binaries(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"s.star":        "test(\"t\", lambda: None)\n",
		"ws/clstr.yaml": "challenge: kv-store\nstage: http-api\n",
		"empty/.keep":   "",
	})
	for _, tc := range []struct {
		name string
		in   string
		args []string
		want string
	}{
		{"a misspelt command", ".", []string{"rnu", "s.star"}, `clstr: no command "rnu" (did you mean run?)`},
		{"a command far from any", ".", []string{"deploy"}, `clstr: no command "deploy"`},
		{"a misspelt flag", ".", []string{"run", "--bianry", testnode, "s.star"}, "clstr: run: no flag --bianry (did you mean --binary?)"},
		{"a flag of another command", ".", []string{"logs", "--binary", "x"}, "clstr: logs: no flag --binary"},
		{"a misspelt challenge", ".", []string{"init", "kv-stor"}, `init: no challenge "kv-stor" (did you mean kv-store?)`},
		{"a misspelt stage", "ws", []string{"test", "persistance"}, `test: kv-store has no stage "persistance" (did you mean persistence?)`},
		{"a missing script, before a bad binary", ".", []string{"run", "--binary", "/bin/sh", "none.star"}, "clstr: cannot read the script none.star: no such file"},
		{"a binary that is not static", ".", []string{"run", "--binary", "/bin/sh", "s.star"}, "clstr: run: /bin/sh is dynamically linked"},
		{"a binary that is not an executable", ".", []string{"run", "--binary", "s.star", "s.star"}, "clstr: run: s.star is not a Linux executable"},
		{"a target with no Dockerfile", ".", []string{"run", "--target", "empty", "s.star"}, "clstr: run: no Dockerfile in "},
		{"a learner with no Dockerfile", "ws", []string{"test"}, "clstr: test: no Dockerfile in "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(clstr, tc.args...)
			cmd.Dir = filepath.Join(dir, tc.in)
			// Nothing answers here: an error about Docker means it was asked.
			cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+filepath.Join(dir, "no-docker.sock"))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 2 {
				t.Fatalf("exit %d (%v); want 2\nstdout:\n%s\nstderr:\n%s", code, err, stdout.String(), stderr.String())
			}
			first, _, _ := strings.Cut(stderr.String(), "\n")
			if !strings.Contains(first, tc.want) {
				t.Errorf("first line %q; want it to contain %q\nstderr:\n%s", first, tc.want, stderr.String())
			}
			if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n") + 1; lines > 2 {
				t.Errorf("%d lines on stderr; want one (and where to read more):\n%s", lines, stderr.String())
			}
			if strings.Contains(stderr.String(), "Docker daemon") || strings.Contains(stdout.String(), "starting") {
				t.Errorf("Docker was asked:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			}
		})
	}
}
