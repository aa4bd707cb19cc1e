package attest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

// fast are options that keep tests quick: short polls and timeouts.
var fast = []Option{
	WithPollInterval(10 * time.Millisecond),
	WithRetryTimeout(500 * time.Millisecond),
	WithRequestTimeout(2 * time.Second),
	WithNodeStartTimeout(2 * time.Second),
	WithNodeShutdownTimeout(time.Second),
}

// suite returns a suite of n nodes with the fast options and opts.
func suite(n int, opts ...Option) *Suite {
	return New(append(append([]Option{WithCluster(n)}, fast...), opts...)...)
}

// handlerFunc answers a request to a node other than GET /health.
type handlerFunc func(node string, w http.ResponseWriter, r *http.Request)

// runtime returns a runtime whose nodes answer GET /health with 200 and
// everything else with h.
func runtime(h handlerFunc) *attesttest.Runtime {
	return attesttest.New(func(n *attesttest.Node) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				return
			}
			h(n.Name, w, r)
		})
	})
}

// run runs s on rt and checks that the cluster was closed exactly once.
func run(t *testing.T, s *Suite, rt *attesttest.Runtime, opts ...func(*engine.RunOptions)) (*engine.Result, []cluster.Event) {
	t.Helper()
	events := cluster.NewEventLog(nil)
	ro := engine.RunOptions{Runtime: rt, Events: events}
	for _, o := range opts {
		o(&ro)
	}
	res := s.Run(context.Background(), ro)
	if c := rt.Last(); c != nil {
		if n := c.Closes(); n != 1 {
			t.Errorf("cluster closed %d times, want exactly once", n)
		}
	}
	return res, events.Events()
}

// passes fails the test unless the run passed.
func passes(t *testing.T, res *engine.Result) {
	t.Helper()
	if !res.Passed() {
		t.Fatalf("run failed: %v", res.FirstError())
	}
}

// failure returns the *Failure that stopped the run, failing the test if
// there is none.
func failure(t *testing.T, res *engine.Result) *engine.Failure {
	t.Helper()
	err := res.FirstError()
	if err == nil {
		t.Fatal("run passed, want a failure")
	}
	var f *engine.Failure
	if !errors.As(err, &f) {
		t.Fatalf("run failed with %T %v, want a *Failure", err, err)
	}
	return f
}

// contains fails the test unless s contains every one of subs.
func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

// eventTexts renders events as "node TEXT" ("** TEXT" for the cluster).
func eventTexts(events []cluster.Event) []string {
	var out []string
	for _, e := range events {
		who := e.Node
		if who == "" {
			who = cluster.ClusterWide
		}
		out = append(out, who+" "+e.Text())
	}
	return out
}
