package attest

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/attest/engine"
)

// holdUnusedConnection leaves in the run's connection pool a connection
// to the node that never carried a request, as Go's transport does when a
// request it dialed for is served first by a connection that came free:
// the node's http.Server sees it as new, not idle, and Shutdown waits up
// to 5s for it. The node answers GET path once release is closed, or
// after a while of its own.
func holdUnusedConnection(t *testing.T, d *Do, name, path string, release chan struct{}) {
	t.Helper()
	tr := d.r.transport
	tr.CloseIdleConnections()
	orig := tr.DialContext
	var dials atomic.Int32
	dialed := make(chan struct{})
	late := make(chan struct{})
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := orig(ctx, network, addr)
		if dials.Add(1) == 2 {
			// The second connection is up at the node; keep the
			// transport from seeing it until the first is free again.
			close(dialed)
			<-late
		}
		return c, err
	}
	defer func() { tr.DialContext = orig }()

	var wg sync.WaitGroup
	wg.Go(func() { d.r.send(d.r.ctx, nil, name, http.MethodGet, path, nil, nil) }) // waits for release
	// Let the first request have its connection before the second asks.
	for deadline := time.Now().Add(5 * time.Second); dials.Load() < 1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	wg.Go(func() { d.r.send(d.r.ctx, nil, name, http.MethodGet, "/health", nil, nil) })
	select {
	case <-dialed:
	case <-time.After(5 * time.Second):
		t.Fatal("the second request did not dial")
	}
	close(release) // the first request ends; the second takes its connection
	wg.Wait()
	close(late) // the dial ends with nobody waiting: its connection goes idle, unused
	time.Sleep(100 * time.Millisecond)
}

// TestStopClosesIdleConnectionsFirst checks that Stop closes the run's
// idle connections before it stops the node, so that a graceful stop of a
// Go server is not held up by a connection that never carried a request.
func TestStopClosesIdleConnectionsFirst(t *testing.T) {
	var release chan struct{}
	rt := attesttest.New(func(n *attesttest.Node) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/block" {
				<-release
			}
		})
	})
	events := cluster.NewEventLog(nil)
	res := New(WithCluster(1), WithNodeShutdownTimeout(2*time.Second)).Test("stop", func(do *Do) {
		release = make(chan struct{})
		holdUnusedConnection(t, do, "n1", "/block", release)
		do.Stop("n1")
		do.Start("n1")
	}).Run(context.Background(), engine.RunOptions{Runtime: rt, Events: events})
	if !res.Passed() {
		t.Fatal(res.FirstError())
	}
	var stops []string
	for _, e := range events.Events() {
		if e.Kind == cluster.EventStop || e.Kind == cluster.EventStopTimeout {
			stops = append(stops, e.Text())
		}
	}
	if len(stops) != 1 || stops[0] != "STOP" {
		t.Errorf("stop events %q, want one graceful STOP", stops)
	}
}

// TestRestartSavesOnShutdownInContainer is TestStopClosesIdleConnectionsFirst
// on real containers: the test node, in the mode where it saves its state
// only once http.Server.Shutdown returns, must have saved it after a
// graceful restart with an unused connection in the pool.
func TestRestartSavesOnShutdownInContainer(t *testing.T) {
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "testnode")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../internal/testkit/testnode")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the test node: %v\n%s", err, out)
	}
	rt, err := docker.New(ctx, docker.Options{Binary: bin, Env: map[string]string{"TESTNODE_SAVE_ON_SHUTDOWN": "1"}})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs a Docker daemon: %v", err)
		}
		t.Skipf("no Docker runtime: %v", err)
	}
	defer rt.Close()
	res := New(WithCluster(1), WithNodeShutdownTimeout(3*time.Second), WithNodeStartTimeout(30*time.Second)).
		Test("restart", func(do *Do) {
			holdUnusedConnection(t, do, "n1", "/sleep?d=600ms", make(chan struct{}))
			do.Restart("n1")
			do.GET(Node("n1"), "/info").JSON("previous", Is("sigterm")).
				Hint("the node saves on Shutdown; Shutdown waited for an unused connection past the shutdown timeout").Run()
		}).Run(ctx, engine.RunOptions{Runtime: rt})
	if !res.Passed() {
		t.Fatal(res.FirstError())
	}
}
