package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// contextConfig makes a docker config in a temporary directory whose
// current context, "elsewhere", points at host, as Docker Desktop, colima
// or OrbStack set up the docker CLI, and returns the directory.
func contextConfig(t *testing.T, host string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "docker-config")
	sum := sha256.Sum256([]byte("elsewhere"))
	meta := filepath.Join(cfg, "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(cfg, "config.json"), map[string]any{"currentContext": "elsewhere"})
	write(filepath.Join(meta, "meta.json"), map[string]any{
		"Name": "elsewhere", "Metadata": map[string]any{},
		"Endpoints": map[string]any{"docker": map[string]any{"Host": host, "SkipTLSVerify": false}},
	})
	return cfg
}

// TestContextEndpoint runs clstr with nothing but a docker context that
// reaches this machine's daemon through another socket path: doctor names
// it, a run passes through it, and a run through a context whose daemon
// is gone says so, naming the context.
func TestContextEndpoint(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	sock := filepath.Join(t.TempDir(), "d.sock")
	if err := os.Symlink("/var/run/docker.sock", sock); err != nil {
		t.Fatal(err)
	}
	cfg := contextConfig(t, "unix://"+sock)
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CONFIG", cfg)

	res := clstrRun(t, nil, nil, "doctor")
	if res.status != 0 {
		t.Fatalf("doctor: exit status %d\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	assertContains(t, "clstr doctor", res.stdout,
		"endpoint:    unix://"+sock+` (from docker context "elsewhere" (the current context in `+filepath.Join(cfg, "config.json")+"))")

	res = clstrRun(t, map[string]string{"pass.star": passScript}, nil, "run", "--binary", testnode, "pass.star")
	if res.status != 0 {
		t.Fatalf("run: exit status %d\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	assertContains(t, "clstr run", res.stdout, "PASSED  3 passed")
	t.Logf("a 2-node run through the context took %v", res.took)

	// Only the clstr process sees the dead context: the check that the
	// run left nothing behind asks the live daemon.
	gone := "unix://" + filepath.Join(t.TempDir(), "gone.sock")
	clstr, _ := binaries(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pass.star"), []byte(passScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clstr, "run", "--binary", testnode, "pass.star")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+contextConfig(t, gone))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("run through a dead context: %v; want exit status 2\nstderr:\n%s", err, stderr.String())
	}
	assertContains(t, "stderr", stderr.String(), "cannot reach the Docker daemon at "+gone+` (from docker context "elsewhere"`, "docker context use")
}
