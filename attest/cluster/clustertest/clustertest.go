// Package clustertest is the conformance suite of cluster runtimes: one
// table of lifecycle and fault cases that every cluster.Runtime passes the
// same way, so that a fast test against the in-process runtime
// (attest/attesttest) says something true about the Docker one.
//
// Run creates one cluster of three nodes and runs every case on it,
// bringing it back to health between cases. The nodes' program must answer
// the requests of clstr's own test node (internal/testkit/testnode):
//
//	GET /health                    200
//	GET /probe/dial?net=tcp&addr=ADDR&timeout=D
//	                               {"error": ""} when a TCP connection to
//	                               ADDR opens within D, else why not
//	GET /probe/send?peer=ADDR&n=N&interval=D
//	                               sends N one-way datagrams to peer
//	GET /received                  {"<sender>": count} of the one-way
//	                               datagrams received since the node started
//
// A runtime that does not touch traffic (the in-process one) passes by
// giving its nodes a program that answers these from the fault state the
// runtime records. A runtime that counts traffic (cluster.TrafficCounter)
// must count the one-way datagrams exactly; one that cannot must refuse
// with cluster.ErrNoTraffic.
package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Run runs the conformance suite against rt, one subtest per case. The
// cluster it creates is closed when t ends.
func Run(t *testing.T, rt cluster.Runtime) {
	events := cluster.NewEventLog(nil)
	c, err := rt.Create(t.Context(), cluster.Spec{Nodes: 3, ShutdownTimeout: 2 * time.Second, Events: events})
	if err != nil {
		t.Fatalf("create a cluster of 3: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			for _, e := range events.Events() {
				t.Log(e)
			}
		}
	})
	s := &suite{c: c, events: events}
	for _, name := range c.Nodes() {
		s.waitHealthy(t, name)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.reset(t)
			s.from = len(events.Events())
			tc.run(t, s)
		})
	}
}

// suite is the cluster the cases share and what they use to look at it.
type suite struct {
	c      cluster.Cluster
	events *cluster.EventLog
	from   int // the first event of the running case
}

// timeout bounds what the suite waits for: a node to become healthy, a
// connection that should open.
const timeout = 10 * time.Second

// quiet is how long a node may take to answer before the suite calls it
// silent, and how long a connection that should fail is given.
const quiet = 500 * time.Millisecond

// reset brings the cluster back to where every case starts: no partition
// or cut, every node running, unpaused and healthy. Cases that impair
// repair what they impaired.
func (s *suite) reset(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if err := s.c.Heal(ctx); err != nil {
		t.Fatalf("heal before the case: %v", err)
	}
	for _, name := range s.c.Nodes() {
		if err := s.c.Resume(ctx, name); err != nil {
			t.Fatalf("resume %s before the case: %v", name, err)
		}
		if err := s.c.Start(ctx, name); err != nil {
			t.Fatalf("start %s before the case: %v", name, err)
		}
	}
	for _, name := range s.c.Nodes() {
		s.waitHealthy(t, name)
	}
}

// answers reports whether the node answers GET /health with 200 within
// wait, and if not, why.
func (s *suite) answers(name string, wait time.Duration) error {
	u, err := s.c.URL(name)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: wait}).Get(u + "/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /health: %s", resp.Status)
	}
	return nil
}

func (s *suite) waitHealthy(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := s.answers(name, time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after %v: %v; its log: %q", name, timeout, err, s.c.LogTail(name, 10))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// silent fails the test if the node answers within quiet.
func (s *suite) silent(t *testing.T, name, why string) {
	t.Helper()
	if err := s.answers(name, quiet); err == nil {
		t.Errorf("%s answered %s", name, why)
	}
}

// get fetches path from the node and decodes its JSON answer into v.
func (s *suite) get(t *testing.T, name, path string, v any) {
	t.Helper()
	u, err := s.c.URL(name)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: timeout}).Get(u + path)
	if err != nil {
		t.Fatalf("GET %s on %s: %v", path, name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s on %s: %s %s", path, name, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s on %s: %v in %s", path, name, err, b)
	}
}

func (s *suite) addr(t *testing.T, name string) string {
	t.Helper()
	a, err := s.c.Addr(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// dial has node from open one TCP connection to node to, within wait,
// and returns why it failed, or nil.
func (s *suite) dial(t *testing.T, from, to string, wait time.Duration) error {
	t.Helper()
	var r struct {
		Error string `json:"error"`
	}
	s.get(t, from, fmt.Sprintf("/probe/dial?net=tcp&addr=%s&timeout=%s", s.addr(t, to), wait), &r)
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}

// reaches checks that node from reaches node to over TCP, allowing a
// changed network a moment to take effect.
func (s *suite) reaches(t *testing.T, from, to string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := s.dial(t, from, to, time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s does not reach %s: %v", from, to, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cutOff checks that node from cannot open a TCP connection to node to.
func (s *suite) cutOff(t *testing.T, from, to string) {
	t.Helper()
	if err := s.dial(t, from, to, quiet); err == nil {
		t.Errorf("%s reaches %s", from, to)
	}
}

// received returns how many one-way datagrams the node has received since
// it started, from anyone.
func (s *suite) received(t *testing.T, name string) int {
	t.Helper()
	var bySender map[string]int
	s.get(t, name, "/received", &bySender)
	total := 0
	for _, k := range bySender {
		total += k
	}
	return total
}

// send has node from send n one-way datagrams to node to.
func (s *suite) send(t *testing.T, from, to string, n int) {
	t.Helper()
	var r map[string]int
	s.get(t, from, fmt.Sprintf("/probe/send?peer=%s&n=%d&interval=1ms", s.addr(t, to), n), &r)
}

// oneWay checks that what from sends to to arrives, or not, by sending
// datagrams both ways: the way that flows is waited for, so when it has
// arrived the datagrams of the other, sent first, have had their chance.
func (s *suite) oneWay(t *testing.T, from, to string, arrives, back bool) {
	t.Helper()
	const n = 5
	atTo, atFrom := s.received(t, to), s.received(t, from)
	s.send(t, from, to, n)
	s.send(t, to, from, n)
	start := time.Now()
	deadline := start.Add(2 * time.Second)
	for {
		gotTo, gotFrom := s.received(t, to)-atTo, s.received(t, from)-atFrom
		done := (!arrives || gotTo > 0) && (!back || gotFrom > 0)
		if !arrives && !back {
			done = time.Since(start) > quiet // nothing to wait for
		}
		if done || time.Now().After(deadline) {
			if arrives != (gotTo > 0) {
				t.Errorf("%s got %d of %d datagrams from %s; want them to arrive: %v", to, gotTo, n, from, arrives)
			}
			if back != (gotFrom > 0) {
				t.Errorf("%s got %d of %d datagrams from %s; want them to arrive: %v", from, gotFrom, n, to, back)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kind is what an event says happened, without its details: "START",
// "PARTITIONED FROM", "IMPAIRED TOWARDS n2"; "" for the kinds the suite
// does not compare. The runtimes agree on kinds; the details (an
// impairment's mechanism, say) are theirs, and other kinds (what a shaper
// saw, a network a runtime chose) are theirs to write or not.
func kind(e cluster.Event) string {
	switch e.Kind {
	case cluster.EventImpair:
		if len(e.Peers) > 0 {
			return "IMPAIRED TOWARDS " + strings.Join(e.Peers, ", ")
		}
		return "IMPAIRED"
	case cluster.EventStopTimeout:
		return "" // a kill follows
	}
	return compared[e.Kind]
}

// compared names the kinds the suite compares, as the cases write them.
var compared = map[cluster.EventKind]string{
	cluster.EventStart: "START", cluster.EventStop: "STOP", cluster.EventKill: "KILL",
	cluster.EventPause: "PAUSE", cluster.EventResume: "RESUME",
	cluster.EventPartition: "PARTITIONED FROM", cluster.EventHeal: "PARTITION HEALED",
	cluster.EventCut: "CUT TO", cluster.EventRepair: "REPAIRED",
}

// happened returns the events of the running case as "node KIND" lines,
// "** KIND" for the whole cluster, leaving out the kinds the suite does
// not compare.
func (s *suite) happened() []string {
	var out []string
	for _, e := range s.events.Events()[s.from:] {
		k := kind(e)
		if k == "" {
			continue
		}
		who := e.Node
		if who == "" {
			who = cluster.ClusterWide
		}
		out = append(out, who+" "+k)
	}
	return out
}

// wantEvents checks the events of the running case, in order.
func (s *suite) wantEvents(t *testing.T, want ...string) {
	t.Helper()
	if got := s.happened(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// since marks the events so far as seen: wantEvents checks only later ones.
func (s *suite) since() { s.from = len(s.events.Events()) }
