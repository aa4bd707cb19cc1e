package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionText checks what the version says for the builds users make:
// a release, a go install of a version, a build from a checkout with
// changes, and a binary without build information.
func TestVersionText(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	vcs := func(rev, modified, at string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"},
			Settings: vcs("94f1cb7a1b2c3d4e5f60718293a4b5c6d7e8f901", "false", "2026-12-07T12:50:19Z")}, true,
			"v1.2.0 (revision 94f1cb7a1b2c, 2026-12-07T12:50:19Z, go1.26.0 " + platform + ")"},
		{"go install of a version", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}}, true,
			"v1.2.0 (go1.26.0 " + platform + ")"},
		{"checkout with changes", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.1-0.20261207125019-94f1cb7a1b2c+dirty"},
			Settings: vcs("94f1cb7a1b2c3d4e5f60718293a4b5c6d7e8f901", "true", "2026-12-07T12:50:19Z")}, true,
			"v1.2.1-0.20261207125019-94f1cb7a1b2c+dirty (revision 94f1cb7a1b2c modified, 2026-12-07T12:50:19Z, go1.26.0 " + platform + ")"},
		{"no build information", nil, false, "unknown (no build information; " + runtime.Version() + " " + platform + ")"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionText(tc.bi, tc.ok); got != tc.want {
				t.Errorf("versionText = %q\nwant          %q", got, tc.want)
			}
		})
	}
}

// TestVersionCommands checks that `clstr --version` and `clstr version`
// print the same line, with the VCS revision of a build from a git
// clone.
func TestVersionCommands(t *testing.T) {
	var out1, out2, errs bytes.Buffer
	if st := run(context.Background(), []string{"clstr", "--version"}, &out1, &errs); st != 0 {
		t.Fatalf("clstr --version: status %d: %s", st, errs.String())
	}
	if st := run(context.Background(), []string{"clstr", "version"}, &out2, &errs); st != 0 {
		t.Fatalf("clstr version: status %d: %s", st, errs.String())
	}
	if out1.String() != out2.String() || !strings.HasPrefix(out1.String(), "clstr version ") || strings.Count(out1.String(), "\n") != 1 {
		t.Errorf("clstr --version printed %q and clstr version %q; want one same line", out1.String(), out2.String())
	}

	if testing.Short() {
		t.Skip("builds clstr from a clone; skipped with -short")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git to clone the repository with")
	}
	top, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	head, err := exec.Command(git, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	// A plain clone: the go command stamps no VCS information in a
	// linked worktree.
	clone := filepath.Join(t.TempDir(), "clstr")
	if out, err := exec.Command(git, "clone", "-q", "--local", "--shared", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if out, err := exec.Command(git, "-C", clone, "checkout", "-q", strings.TrimSpace(string(head))).CombinedOutput(); err != nil {
		t.Fatalf("git checkout: %v\n%s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "clstr")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=true", "-o", bin, "./cmd/clstr")
	build.Dir = clone
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("clstr %s: %v", args[0], err)
		}
		want := "revision " + strings.TrimSpace(string(head))[:12]
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), "Z, go1.") {
			t.Errorf("clstr %s printed %q; want the module version, %q and the commit time", args[0], out, want)
		}
		t.Logf("clstr %s: %s", args[0], bytes.TrimSpace(out))
	}
}
