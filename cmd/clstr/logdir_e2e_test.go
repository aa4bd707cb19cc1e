package main

import (
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// silentDocker returns a DOCKER_HOST whose socket accepts connections and
// never answers, as a daemon that hangs does.
func silentDocker(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "clstr-silent") // short: a socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("no Unix socket to stand for a silent daemon: %v", err)
	}
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		os.RemoveAll(dir)
	})
	return "unix://" + sock
}

// clstrFiles returns every file under dir/.clstr with its content.
func clstrFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	root := filepath.Join(dir, ".clstr")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return files
}

// TestRunWithoutDockerKeepsTheLastLogs runs a stage, then runs it where
// Docker does not answer, a learner's stage where Docker refuses, and the
// stage against an image that does not build: the logs of the first run
// stay as they were, and clstr logs still shows them.
func TestRunWithoutDockerKeepsTheLastLogs(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	dir := t.TempDir()
	wantStatus(t, clstrIn(t, dir, "init", "kv-store", "ws"), 0)
	ws := filepath.Join(dir, "ws")
	script := "suite()\ntest(\"healthy\", lambda: get(\"n1\", \"/health\").status(200).run())\n"
	if err := os.WriteFile(filepath.Join(ws, "s.star"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, clstrIn(t, ws, "run", "--binary", testnode, "s.star"), 0)
	before := clstrFiles(t, ws)
	if _, ok := before["logs/n1.log"]; !ok {
		t.Fatalf("the run left no n1.log: %v", slices.Sorted(maps.Keys(before)))
	}

	// An image that does not build starts no node either.
	if err := os.MkdirAll(filepath.Join(ws, "bad"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "bad", "Dockerfile"), []byte("FROM scratch\nCOPY missing /missing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A daemon that never answers is waited out once; one that refuses
	// at once serves the learner's command, which keeps logs the same way.
	silent := []string{"DOCKER_HOST=" + silentDocker(t)}
	refused := []string{"DOCKER_HOST=unix://" + filepath.Join(dir, "no-daemon.sock")}
	for _, tc := range []struct {
		env    []string
		args   []string
		status int
		says   string
	}{
		{silent, []string{"run", "--binary", testnode, "s.star"}, 2, "cannot reach the Docker daemon"},
		{refused, []string{"test", "--binary", testnode}, 2, "cannot reach the Docker daemon"},
		{nil, []string{"run", "--target", "bad", "s.star"}, 1, "missing"},
	} {
		res := clstrInEnv(t, ws, tc.env, tc.args...)
		if res.status != tc.status {
			t.Errorf("clstr %v: exit status %d; want %d\nstdout:\n%s\nstderr:\n%s", tc.args, res.status, tc.status, res.stdout, res.stderr)
		}
		assertContains(t, "output", res.stdout+res.stderr, tc.says)
		if strings.Contains(res.stdout, "logs: .clstr/logs/") {
			t.Errorf("clstr %v points at the logs, which are the run before's", tc.args)
		}
		after := clstrFiles(t, ws)
		if !maps.Equal(after, before) {
			t.Errorf("clstr %v changed .clstr/: files %v, before %v", tc.args, slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before)))
		}
	}
	res := clstrIn(t, ws, "logs")
	wantStatus(t, res, 0)
	assertContains(t, "clstr logs", res.stdout, "[n1] [START]", "[**] [TEST: healthy]")
}

// TestLogsWithoutARun checks that clstr logs after a run that could not
// start says that there are no logs, and exits 2, as docs/challenges.md
// says. The daemon it names refuses the connection at once; one that
// never answers is TestRunWithoutDockerKeepsTheLastLogs's.
func TestLogsWithoutARun(t *testing.T) {
	_, testnode := binaries(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.star"), []byte("suite()\ntest(\"t\", lambda: None)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := "unix://" + filepath.Join(dir, "no-daemon.sock")
	res := clstrInEnv(t, dir, []string{"DOCKER_HOST=" + refused}, "run", "--binary", testnode, "s.star")
	wantStatus(t, res, 2)
	res = clstrIn(t, dir, "logs")
	wantStatus(t, res, 2)
	assertContains(t, "stderr", res.stderr, "no logs yet")
	if files := clstrFiles(t, dir); len(files) > 0 {
		t.Errorf("a run that started nothing left %v", slices.Sorted(maps.Keys(files)))
	}
}
