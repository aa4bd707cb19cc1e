package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nodeBinary is the kv program built once for the tests that run it as a
// subprocess, the way clstr runs it: ADDR, DATA_DIR, real signals. Under
// -race it is built with the race detector too, and a test fails if the
// node reports a race.
var nodeBinary string

// raceEnabled is set by race_test.go when the tests run under -race.
var raceEnabled bool

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kv-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nodeBinary = filepath.Join(dir, "kv-node")
	args := []string{"build", "-o", nodeBinary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one run of the kv program on a 127.0.0.1 port, restartable on
// the same port and data directory.
type node struct {
	t       *testing.T
	addr    string
	dataDir string
	env     []string
	out     *syncBuffer // output of every run, kept across restarts

	cmd    *exec.Cmd
	exited chan struct{}
}

// startNode runs the kv program with the given extra environment and
// waits for it to answer GET /health. The node is killed when the test
// ends, and its output is logged if the test failed.
func startNode(t *testing.T, env ...string) *node {
	t.Helper()
	n := &node{t: t, addr: freeAddr(t), dataDir: t.TempDir(), env: env, out: &syncBuffer{}}
	t.Cleanup(func() {
		if n.cmd != nil {
			n.stop(syscall.SIGKILL)
		}
		if out := n.out.String(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("the node at %s reported a data race:\n%s", n.addr, out)
		} else if t.Failed() {
			t.Logf("output of the node at %s:\n%s", n.addr, out)
		}
	})
	n.start()
	return n
}

func (n *node) start() {
	n.t.Helper()
	cmd := exec.Command(nodeBinary)
	cmd.Env = append(os.Environ(), "ADDR="+n.addr, "DATA_DIR="+n.dataDir)
	cmd.Env = append(cmd.Env, n.env...)
	cmd.Stdout, cmd.Stderr = n.out, n.out
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start kv node: %v", err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(n.exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(n.url("/health"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-n.exited:
			n.t.Fatalf("kv node exited before answering GET /health:\n%s", n.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("kv node did not answer GET /health within 10s:\n%s", n.out.String())
		}
	}
}

// stop sends sig and waits for the process to exit.
func (n *node) stop(sig syscall.Signal) {
	n.t.Helper()
	n.cmd.Process.Signal(sig)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
		n.t.Errorf("kv node did not exit within 10s of %v", sig)
	}
	n.cmd = nil
}

// restart stops the node with sig and starts it again on the same port
// and data directory.
func (n *node) restart(sig syscall.Signal) {
	n.t.Helper()
	n.stop(sig)
	n.start()
}

func (n *node) url(path string) string { return "http://" + n.addr + path }

// signame names the two signals the tests send the way clstr's events do.
func signame(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return sig.String()
}

// do sends one request and returns the status and body.
func do(c *http.Client, method, url, body string) (int, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// expect sends one request and returns an error unless the answer has the
// given status and, if wantBody is not nil, that body (ignoring one
// trailing newline).
func expect(c *http.Client, method, url, body string, wantStatus int, wantBody *string) error {
	status, got, err := do(c, method, url, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if status != wantStatus {
		return fmt.Errorf("%s %s: status %d, want %d (body %q)", method, url, status, wantStatus, clip(got))
	}
	if wantBody != nil && strings.TrimSuffix(got, "\n") != *wantBody {
		return fmt.Errorf("%s %s: body %q, want %q", method, url, clip(got), clip(*wantBody))
	}
	return nil
}

func ptr(s string) *string { return &s }

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

// client returns an HTTP client that keeps enough connections open for
// the concurrent tests without running into file-descriptor limits.
func client() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxConnsPerHost: 200, MaxIdleConnsPerHost: 200},
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
