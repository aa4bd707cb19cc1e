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
	"sync/atomic"
	"testing"
	"time"
)

// network lets a test cut the links between in-process nodes: a request
// from a node to a cut peer fails as a dropped packet would. It also delays
// every request between nodes, and its answer, by delay, and counts the
// requests the nodes send each other.
type network struct {
	delay    time.Duration   // set before the nodes start
	base     *http.Transport // what carries the requests that get through
	requests atomic.Int64    // requests between nodes, cut or not

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
	t.nw.requests.Add(1)
	if t.nw.isCut(t.from, r.URL.Host) {
		return nil, errors.New("dropped by the test's partition")
	}
	time.Sleep(t.nw.delay)
	resp, err := t.nw.base.RoundTrip(r)
	if err == nil {
		time.Sleep(t.nw.delay)
	}
	return resp, err
}

// testCluster is nodes served on loopback.
type testCluster struct {
	t     testing.TB
	nw    *network
	addrs []string
	dirs  []string
	opts  clusterOptions
	nodes []*Node
	srvs  []*http.Server
}

// clusterOptions is how a test cluster's nodes run.
type clusterOptions struct {
	bug      string
	tick     time.Duration // zero for the node's default
	fallback time.Duration // zero for the node's default
	delay    time.Duration // added to each request between nodes and to its answer
}

// newCluster starts nodes that tick fast and fall back to sending
// directly soon, on links without delay.
func newCluster(t *testing.T, size int, bug string) *testCluster {
	return newClusterWith(t, size, clusterOptions{bug: bug, tick: 10 * time.Millisecond, fallback: 50 * time.Millisecond})
}

func newClusterWith(t testing.TB, size int, o clusterOptions) *testCluster {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 8
	t.Cleanup(base.CloseIdleConnections)
	c := &testCluster{t: t, nw: &network{delay: o.delay, base: base}, opts: o, nodes: make([]*Node, size), srvs: make([]*http.Server, size)}
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
	n, err := NewNode(Config{Self: c.addrs[i], Peers: peers, Dir: c.dirs[i], Bug: c.opts.bug, Tick: c.opts.tick, Fallback: c.opts.fallback,
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

// converges reports whether, within a second, every running node reads
// want.
func converges[T any](c *testCluster, read func(int) T, want T) bool {
	deadline := time.Now().Add(time.Second)
	for {
		ok := true
		for i := range c.addrs {
			if c.srvs[i] != nil && fmt.Sprint(read(i)) != fmt.Sprint(want) {
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

// hub is the index of the cluster's hub, and the others'.
func (c *testCluster) hub() (int, []int) {
	h := slices.Index(c.addrs, slices.Min(c.addrs))
	var others []int
	for i := range c.addrs {
		if i != h {
			others = append(others, i)
		}
	}
	return h, others
}

func TestBroadcastWithoutTheHub(t *testing.T) {
	t.Run("cut off", func(t *testing.T) {
		c := newCluster(t, 5, "")
		h, others := c.hub()
		c.nw.partition(c.addrs[h:h+1], slices.DeleteFunc(slices.Clone(c.addrs), func(a string) bool { return a == c.addrs[h] }))
		var want []int
		for _, i := range others {
			c.broadcast(i, i)
			want = append(want, i)
		}
		c.broadcast(h, 10)
		deadline := time.Now().Add(time.Second)
		for _, i := range others {
			for !slices.Equal(c.read(i), want) {
				if time.Now().After(deadline) {
					t.Fatalf("node %d reads %v with the hub cut off, want %v from the other nodes", i, c.read(i), want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		c.nw.partition(nil, nil)
		if !converges(c, c.read, append(want, 10)) {
			t.Fatalf("after the heal the hub reads %v, node %d %v", c.read(h), others[0], c.read(others[0]))
		}
	})
	t.Run("down", func(t *testing.T) {
		c := newCluster(t, 5, "")
		h, others := c.hub()
		c.stop(h)
		var want []int
		for _, i := range others {
			c.broadcast(i, i)
			want = append(want, i)
		}
		if !converges(c, c.read, want) {
			t.Fatalf("with the hub down node %d reads %v, want %v", others[0], c.read(others[0]), want)
		}
		c.start(h, nil)
		if !converges(c, c.read, want) {
			t.Fatalf("the hub reads %v once back, want %v", c.read(h), want)
		}
	})
}

// TestBroadcastSurvivesItsOriginsRestart: a node that took a message and
// went down before any peer got it sends it once it is back.
func TestBroadcastSurvivesItsOriginsRestart(t *testing.T) {
	c := newCluster(t, 3, "")
	h, others := c.hub()
	for _, i := range []int{h, others[0]} {
		c.nw.partition(c.addrs[i:i+1], slices.DeleteFunc(slices.Clone(c.addrs), func(a string) bool { return a == c.addrs[i] }))
		c.broadcast(i, i)
		c.stop(i)
		c.nw.partition(nil, nil)
		c.start(i, nil)
		if !converges(c, func(j int) bool { return slices.Contains(c.read(j), i) }, true) {
			t.Fatalf("message %d, broadcast to node %d before its restart: reads %v %v %v", i, i, c.read(0), c.read(1), c.read(2))
		}
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
