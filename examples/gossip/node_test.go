package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// network lets a test cut the links between in-process nodes: a request
// from a node to a cut peer fails as a dropped packet would.
type network struct {
	mu  sync.Mutex // guards cut
	cut map[[2]string]bool
}

func (nw *network) isCut(from, to string) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.cut[[2]string{from, to}]
}

// partition cuts every link between a and b, both ways; heal with nil.
func (nw *network) partition(a, b []string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut = map[[2]string]bool{}
	for _, x := range a {
		for _, y := range b {
			nw.cut[[2]string{x, y}], nw.cut[[2]string{y, x}] = true, true
		}
	}
}

type linkTransport struct {
	nw   *network
	from string
}

func (t linkTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.nw.isCut(t.from, r.URL.Host) {
		return nil, errors.New("dropped by the test's partition")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// testCluster is nodes served on loopback.
type testCluster struct {
	t     *testing.T
	nw    *network
	addrs []string
	dirs  []string
	bug   string
	nodes []*Node
	srvs  []*http.Server
}

func newCluster(t *testing.T, size int, bug string) *testCluster {
	c := &testCluster{t: t, nw: &network{}, bug: bug, nodes: make([]*Node, size), srvs: make([]*http.Server, size)}
	var lns []net.Listener
	for range size {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		c.addrs = append(c.addrs, ln.Addr().String())
		c.dirs = append(c.dirs, t.TempDir())
	}
	for i, ln := range lns {
		c.start(i, ln)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

func (c *testCluster) start(i int, ln net.Listener) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", c.addrs[i]); err != nil {
			c.t.Fatal(err)
		}
	}
	peers := slices.DeleteFunc(slices.Clone(c.addrs), func(a string) bool { return a == c.addrs[i] })
	n, err := NewNode(Config{Self: c.addrs[i], Peers: peers, Dir: c.dirs[i], Bug: c.bug, Tick: 10 * time.Millisecond,
		Client: &http.Client{Timeout: time.Second, Transport: linkTransport{c.nw, c.addrs[i]}}})
	if err != nil {
		c.t.Fatal(err)
	}
	srv := &http.Server{Handler: n.Handler()}
	go srv.Serve(ln)
	c.nodes[i], c.srvs[i] = n, srv
}

// stop stops node i as a crash would not: it is for the end of a test.
func (c *testCluster) stop(i int) {
	if c.srvs[i] != nil {
		c.srvs[i].Close()
		c.nodes[i].Close()
		c.srvs[i], c.nodes[i] = nil, nil
	}
}

func (c *testCluster) do(i int, method, path, body string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, "http://"+c.addrs[i]+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *testCluster) broadcast(i int, m int) {
	c.t.Helper()
	if status, body := c.do(i, "POST", "/broadcast", fmt.Sprintf(`{"message": %d}`, m)); status != 200 {
		c.t.Fatalf("broadcast %d on node %d: %d %s", m, i, status, body)
	}
}

func (c *testCluster) add(i int, d int) {
	c.t.Helper()
	if status, body := c.do(i, "POST", "/add", fmt.Sprintf(`{"delta": %d}`, d)); status != 200 {
		c.t.Fatalf("add %d on node %d: %d %s", d, i, status, body)
	}
}

func (c *testCluster) read(i int) []int {
	c.t.Helper()
	_, body := c.do(i, "GET", "/read", "")
	var r struct{ Messages []int }
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		c.t.Fatalf("read: %v: %s", err, body)
	}
	slices.Sort(r.Messages)
	return r.Messages
}

func (c *testCluster) counter(i int) int {
	c.t.Helper()
	_, body := c.do(i, "GET", "/counter", "")
	var r struct{ Value int }
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		c.t.Fatalf("counter: %v: %s", err, body)
	}
	return r.Value
}

// converges reports whether, within a second, every node reads want.
func converges[T any](c *testCluster, read func(int) T, want T) bool {
	deadline := time.Now().Add(time.Second)
	for {
		ok := true
		for i := range c.addrs {
			if fmt.Sprint(read(i)) != fmt.Sprint(want) {
				ok = false
			}
		}
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBroadcastReachesEveryNode(t *testing.T) {
	c := newCluster(t, 5, "")
	for m := range 20 {
		c.broadcast(m%5, m)
	}
	want := make([]int, 20)
	for i := range want {
		want[i] = i
	}
	if !converges(c, c.read, want) {
		t.Fatalf("reads: %v %v %v %v %v; want %v", c.read(0), c.read(1), c.read(2), c.read(3), c.read(4), want)
	}
}

func TestBroadcastAfterAPartition(t *testing.T) {
	for _, tc := range []struct {
		bug      string
		converge bool
	}{{"", true}, {bugFlood, true}, {bugNoRetry, false}} {
		t.Run("bug="+tc.bug, func(t *testing.T) {
			c := newCluster(t, 3, tc.bug)
			c.nw.partition(c.addrs[:1], c.addrs[1:])
			c.broadcast(0, 1)
			c.broadcast(2, 2)
			time.Sleep(100 * time.Millisecond)
			c.nw.partition(nil, nil)
			if got := converges(c, c.read, []int{1, 2}); got != tc.converge {
				t.Fatalf("converged %v, want %v: %v %v %v", got, tc.converge, c.read(0), c.read(1), c.read(2))
			}
		})
	}
}

func TestCounterConverges(t *testing.T) {
	for _, tc := range []struct {
		bug      string
		converge bool
	}{{"", true}, {bugFlood, true}, {bugForgetDecrements, false}} {
		t.Run("bug="+tc.bug, func(t *testing.T) {
			c := newCluster(t, 3, tc.bug)
			c.nw.partition(c.addrs[:1], c.addrs[1:])
			c.add(0, 5)
			c.add(1, 7)
			c.add(2, -3)
			time.Sleep(50 * time.Millisecond)
			c.nw.partition(nil, nil)
			if got := converges(c, c.counter, 9); got != tc.converge {
				t.Fatalf("converged on 9: %v, want %v: %d %d %d", got, tc.converge, c.counter(0), c.counter(1), c.counter(2))
			}
		})
	}
}

func TestStateSurvivesARestart(t *testing.T) {
	for _, tc := range []struct {
		bug  string
		want int
	}{{"", 7}, {bugDoubleCount, 12}} {
		t.Run("bug="+tc.bug, func(t *testing.T) {
			c := newCluster(t, 2, tc.bug)
			c.add(0, 5)
			c.add(1, 2)
			c.broadcast(1, 3)
			if !converges(c, c.counter, 7) {
				t.Fatal("no convergence before the restart")
			}
			c.stop(0)
			c.start(0, nil)
			if !converges(c, c.counter, tc.want) {
				t.Fatalf("counters %d %d after the restart, want %d", c.counter(0), c.counter(1), tc.want)
			}
			if got := c.read(0); !slices.Equal(got, []int{3}) {
				t.Errorf("messages after the restart: %v", got)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	c := newCluster(t, 1, "")
	for _, tc := range []struct{ path, body string }{
		{"/broadcast", ""}, {"/broadcast", `{"message": "x"}`}, {"/broadcast", `{}`},
		{"/add", `{"delta": 1.5}`}, {"/add", `{}`},
	} {
		if status, _ := c.do(0, "POST", tc.path, tc.body); status != 400 {
			t.Errorf("POST %s %q: %d, want 400", tc.path, tc.body, status)
		}
	}
	if _, err := parseBug("nope"); err == nil {
		t.Error("GOSSIP_BUG=nope accepted")
	}
}
