package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nodeBinary is the raft program, built once; under -race it is built with
// the race detector too, and a test fails if any node reports a race.
var nodeBinary string

// raceEnabled is set by race_test.go when the tests run under -race.
var raceEnabled bool

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "raft-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nodeBinary = filepath.Join(dir, "raft-node")
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

// cluster is a set of raft processes on 127.0.0.1 ports, each with its own
// data directory, started and stopped with real signals.
type cluster struct {
	t      *testing.T
	nodes  []*node
	client *http.Client // does not follow redirects
}

type node struct {
	addr    string
	dataDir string
	env     []string
	out     *syncBuffer // output of every run of the node

	cmd    *exec.Cmd // nil while stopped
	exited chan struct{}
}

// startCluster starts size nodes with the given extra environment and
// waits until each answers GET /health. Every node is killed when the test
// ends; their output is logged if the test failed.
func startCluster(t *testing.T, size int, env ...string) *cluster {
	t.Helper()
	return startClusterSpare(t, size, 0, env...)
}

// startClusterSpare is startCluster with spare nodes after the others:
// every node gets CLUSTER, the initial configuration, which the spare
// nodes are not in; they are not started.
func startClusterSpare(t *testing.T, size, spare int, env ...string) *cluster {
	t.Helper()
	c := &cluster{
		t: t,
		client: &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	addrs := freeAddrs(t, size+spare)
	members := addrs[:size]
	for _, addr := range addrs {
		peers := slices.DeleteFunc(slices.Clone(members), func(a string) bool { return a == addr })
		c.nodes = append(c.nodes, &node{
			addr:    addr,
			dataDir: t.TempDir(),
			env: append([]string{"ADDR=" + addr, "PEERS=" + strings.Join(peers, ","),
				"CLUSTER=" + strings.Join(members, ",")}, env...),
			out: &syncBuffer{},
		})
	}
	t.Cleanup(func() {
		for i, n := range c.nodes {
			if n.cmd != nil {
				c.stop(i, syscall.SIGKILL)
			}
		}
		for _, n := range c.nodes {
			if out := n.out.String(); strings.Contains(out, "WARNING: DATA RACE") {
				t.Errorf("the node at %s reported a data race:\n%s", n.addr, out)
			} else if t.Failed() {
				t.Logf("output of the node at %s:\n%s", n.addr, out)
			}
		}
	})
	for i := range size {
		c.launch(i)
	}
	for i := range size {
		c.waitHealthy(i)
	}
	return c
}

// launch starts node i's process without waiting for it.
func (c *cluster) launch(i int) {
	c.t.Helper()
	n := c.nodes[i]
	cmd := exec.Command(nodeBinary)
	cmd.Env = append(os.Environ(), "DATA_DIR="+n.dataDir)
	cmd.Env = append(cmd.Env, n.env...)
	cmd.Stdout, cmd.Stderr = n.out, n.out
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start node %s: %v", n.addr, err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(n.exited)
	}()
}

func (c *cluster) waitHealthy(i int) {
	c.t.Helper()
	n := c.nodes[i]
	deadline := time.Now().Add(10 * time.Second)
	for {
		if status, _, _, err := c.do(i, "GET", "/health", ""); err == nil && status == http.StatusOK {
			return
		}
		select {
		case <-n.exited:
			c.t.Fatalf("node %s exited before answering GET /health:\n%s", n.addr, n.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %s did not answer GET /health within 10s", n.addr)
		}
	}
}

// start starts a stopped node again on its port and data directory.
func (c *cluster) start(i int) {
	c.t.Helper()
	c.launch(i)
	c.waitHealthy(i)
}

// stop sends sig to node i and waits for it to exit.
func (c *cluster) stop(i int, sig syscall.Signal) {
	c.t.Helper()
	n := c.nodes[i]
	n.cmd.Process.Signal(sig)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
		c.t.Errorf("node %s did not exit within 10s of %v", n.addr, sig)
	}
	n.cmd = nil
}

func (c *cluster) running(i int) bool { return c.nodes[i].cmd != nil }

func (c *cluster) index(addr string) int {
	return slices.IndexFunc(c.nodes, func(n *node) bool { return n.addr == addr })
}

// do sends one request to node i, not following redirects.
func (c *cluster) do(i int, method, path, body string) (int, string, http.Header, error) {
	req, err := http.NewRequest(method, "http://"+c.nodes[i].addr+path, strings.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// expect sends one request to node i and returns an error unless the answer
// has the given status and, when wantBody is not nil, that body (ignoring
// one trailing newline).
func (c *cluster) expect(i int, method, path, body string, wantStatus int, wantBody *string) error {
	status, got, _, err := c.do(i, method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s on %s: %w", method, path, c.nodes[i].addr, err)
	}
	if status != wantStatus {
		return fmt.Errorf("%s %s on %s: status %d, want %d (body %q)", method, path, c.nodes[i].addr, status, wantStatus, got)
	}
	if wantBody != nil && strings.TrimSuffix(got, "\n") != *wantBody {
		return fmt.Errorf("%s %s on %s: body %q, want %q", method, path, c.nodes[i].addr, got, *wantBody)
	}
	return nil
}

func ptr(s string) *string { return &s }

func (c *cluster) getJSON(i int, path string, v any) error {
	status, body, header, err := c.do(i, "GET", path, "")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s on %s: status %d", path, c.nodes[i].addr, status)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("GET %s on %s: Content-Type %q, want application/json", path, c.nodes[i].addr, ct)
	}
	return json.Unmarshal([]byte(body), v)
}

func (c *cluster) info(i int) (clusterInfo, error) {
	var info clusterInfo
	err := c.getJSON(i, "/cluster/info", &info)
	return info, err
}

func (c *cluster) log(i int) (logView, error) {
	var v logView
	err := c.getJSON(i, "/log", &v)
	return v, err
}

// agreedLeader reports the leader every running node agrees on: exactly
// one running node says it is leader, and every other running node names
// it as leader in the same term.
func (c *cluster) agreedLeader() (int, clusterInfo, error) {
	var leaders []int
	infos := map[int]clusterInfo{}
	for i := range c.nodes {
		if !c.running(i) {
			continue
		}
		info, err := c.info(i)
		if err != nil {
			return -1, info, err
		}
		infos[i] = info
		if info.Role == "leader" {
			leaders = append(leaders, i)
		}
	}
	if len(leaders) != 1 {
		return -1, clusterInfo{}, fmt.Errorf("%d nodes say they are leader: %v", len(leaders), infos)
	}
	l := infos[leaders[0]]
	for i, info := range infos {
		if info.Leader == nil || *info.Leader != l.ID || info.Term != l.Term {
			return -1, clusterInfo{}, fmt.Errorf("node %s does not follow leader %s of term %d: %+v", c.nodes[i].addr, l.ID, l.Term, info)
		}
	}
	return leaders[0], l, nil
}

// waitLeader waits until the running nodes agree on a leader.
func (c *cluster) waitLeader(timeout time.Duration) (int, clusterInfo) {
	c.t.Helper()
	var i int
	var info clusterInfo
	err := eventually(timeout, func() error {
		var err error
		i, info, err = c.agreedLeader()
		return err
	})
	if err != nil {
		c.t.Fatalf("no agreed leader within %v: %v", timeout, err)
	}
	return i, info
}

// eventually retries f every 50ms until it returns nil or timeout passes,
// and returns its last error.
func eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consistently checks f every 50ms for duration and returns its first
// error.
func consistently(duration time.Duration, f func() error) error {
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		if err := f(); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// followers lists the running nodes other than leader.
func (c *cluster) followers(leader int) []int {
	var out []int
	for i := range c.nodes {
		if i != leader && c.running(i) {
			out = append(out, i)
		}
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// freeAddrs returns n distinct free loopback addresses: every port is
// held until all are found, so the kernel cannot hand out one twice.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
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
