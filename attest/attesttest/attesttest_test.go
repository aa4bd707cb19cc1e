package attesttest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
)

func get(t *testing.T, c cluster.Cluster, name, path string) (string, error) {
	t.Helper()
	u, err := c.URL(name)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(u + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func texts(events []cluster.Event) []string {
	var out []string
	for _, e := range events {
		who := e.Node
		if who == "" {
			who = "**"
		}
		out = append(out, who+" "+e.Text())
	}
	return out
}

func TestLifecycle(t *testing.T) {
	var builds atomic.Int32
	rt := attesttest.New(func(n *attesttest.Node) http.Handler {
		builds.Add(1)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, n.Name+" "+n.Addr)
		})
	})
	events := cluster.NewEventLog(nil)
	ctx := context.Background()
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 2, ShutdownTimeout: time.Second, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)

	if got := c.Nodes(); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("Nodes() = %v", got)
	}
	addr, _ := c.Addr("n1")
	if body, err := get(t, c, "n1", "/"); err != nil || body != "n1 "+addr {
		t.Fatalf("n1 answered %q, %v; want %q", body, err, "n1 "+addr)
	}
	urlBefore, _ := c.URL("n1")

	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if c.Running("n1") {
		t.Error("n1 still running after Kill")
	}
	if _, err := get(t, c, "n1", "/"); err == nil {
		t.Error("a killed node answered")
	}
	if err := c.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if urlAfter, _ := c.URL("n1"); urlAfter != urlBefore {
		t.Errorf("URL changed across a restart: %s, then %s", urlBefore, urlAfter)
	}
	if _, err := get(t, c, "n1", "/"); err != nil {
		t.Errorf("restarted node does not answer: %v", err)
	}
	if err := c.Stop(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if got := builds.Load(); got != 3 {
		t.Errorf("handler built %d times, want 3 (two nodes, one restart)", got)
	}
	if got := rt.Last().Starts("n1"); got != 2 {
		t.Errorf("Starts(n1) = %d, want 2", got)
	}

	want := []string{"n1 START", "n2 START", "n1 KILL", "n1 START", "n2 STOP"}
	if got := texts(events.Events()); !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}

	for range 2 {
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if c.Running("n1") {
		t.Error("n1 running after Close")
	}
	if got := rt.Last().Closes(); got != 2 {
		t.Errorf("Closes() = %d, want 2", got)
	}
}

func TestStopTimesOut(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	rt := attesttest.New(func(n *attesttest.Node) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
		})
	})
	events := cluster.NewEventLog(nil)
	ctx := context.Background()
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 1, ShutdownTimeout: 50 * time.Millisecond, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	u, _ := c.URL("n1")
	done := make(chan struct{})
	go func() { // held by the handler until release
		defer close(done)
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
		}
	}()
	defer func() { close(release); <-done }()
	<-started
	if err := c.Stop(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	got := texts(events.Events())
	if len(got) != 3 || got[1] != "n1 STOP: no exit 50ms after SIGTERM, sending SIGKILL" || got[2] != "n1 KILL" {
		t.Errorf("events = %q", got)
	}
}

func TestFaultsAndLogs(t *testing.T) {
	rt := attesttest.New(func(n *attesttest.Node) http.Handler {
		n.Logf("%s serving", n.Name)
		return http.NotFoundHandler()
	})
	events := cluster.NewEventLog(nil)
	ctx := context.Background()
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 3, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := c.Partition(ctx, [][]string{{"n1"}, {"n2", "n3"}}); err != nil {
		t.Fatal(err)
	}
	ac := rt.Last()
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"n1", "n2", true}, {"n2", "n1", true}, {"n2", "n3", false}, {"n1", "n1", false}} {
		if got := ac.Blocked(tc.a, tc.b); got != tc.want {
			t.Errorf("Blocked(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if err := c.Partition(ctx, [][]string{{"n1"}, {"n1"}}); err == nil {
		t.Error("a node in two groups was accepted")
	}
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if ac.Blocked("n1", "n2") {
		t.Error("still blocked after Heal")
	}
	imps := []cluster.Impairment{{Kind: cluster.KindDelay, Delay: time.Millisecond}}
	if err := c.Impair(ctx, []string{"n2"}, imps); err != nil {
		t.Fatal(err)
	}
	if got := ac.Impairments("n2"); len(got) != 1 {
		t.Errorf("Impairments(n2) = %v", got)
	}
	if err := c.Repair(ctx, []string{"n2"}); err != nil {
		t.Fatal(err)
	}
	if got := ac.Impairments("n2"); len(got) != 0 {
		t.Errorf("Impairments(n2) after Repair = %v", got)
	}
	if got := c.LogTail("n3", 5); !slices.Equal(got, []string{"n3 serving"}) {
		t.Errorf("LogTail(n3) = %q", got)
	}
	want := []string{"n1 START", "n2 START", "n3 START",
		"n1 PARTITIONED FROM: n2, n3", "n2 PARTITIONED FROM: n1", "n3 PARTITIONED FROM: n1",
		"** PARTITION HEALED", "n2 IMPAIRED: delay 1ms", "n2 REPAIRED"}
	if got := texts(events.Events()); !slices.Equal(got, want) {
		t.Errorf("events = %q\nwant %q", got, want)
	}
}

func TestFailHook(t *testing.T) {
	boom := errors.New("boom")
	rt := attesttest.New(func(*attesttest.Node) http.Handler { return http.NotFoundHandler() })
	rt.Fail = func(op, node string) error {
		if op == "kill" && node == "n2" {
			return boom
		}
		return nil
	}
	ctx := context.Background()
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Errorf("Kill(n1) = %v", err)
	}
	if err := c.Kill(ctx, "n2"); !errors.Is(err, boom) {
		t.Errorf("Kill(n2) = %v, want boom", err)
	}
	var unknown *cluster.ErrUnknownNode
	if err := c.Start(ctx, "n9"); !errors.As(err, &unknown) {
		t.Errorf("Start(n9) = %v, want ErrUnknownNode", err)
	}
}
