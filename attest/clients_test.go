package attest_test

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// replicated is a kv store shared by every node. With lag set, the nodes
// other than n1 answer reads from a copy that catches up only every lag:
// stale follower reads.
func replicated(lag time.Duration) *attesttest.Runtime {
	var mu sync.Mutex // guards data, copyOf and copied
	data, copyOf := map[string]string{}, map[string]string{}
	var copied time.Time
	return attesttest.New(func(n *attesttest.Node) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
		mux.HandleFunc("/kv/{key}", func(w http.ResponseWriter, r *http.Request) {
			key := r.PathValue("key")
			mu.Lock()
			defer mu.Unlock()
			w.Header().Set("Content-Type", "text/plain")
			switch r.Method {
			case http.MethodPut:
				b, _ := io.ReadAll(r.Body)
				data[key] = string(b)
			case http.MethodGet:
				view := data
				if lag > 0 && n.Name != "n1" {
					if time.Since(copied) > lag {
						copyOf, copied = maps.Clone(data), time.Now()
					}
					view = copyOf
				}
				v, ok := view[key]
				if !ok {
					http.Error(w, "key not found", http.StatusNotFound)
					return
				}
				io.WriteString(w, v)
			}
		})
		return mux
	})
}

// workload is a client of the kv store: it writes or reads one of three
// keys on a node it draws from its random stream.
func workload(do *Do, i int) {
	node := fmt.Sprintf("n%d", 1+do.Rand().IntN(3))
	key := fmt.Sprintf("/kv/k%d", do.Rand().IntN(3))
	if do.Rand().IntN(2) == 0 {
		do.Send("PUT", node, key, fmt.Sprintf("%d-%d", i, do.Rand().Int()))
		return
	}
	do.Fetch(node, key)
}

func TestClientsRecordEveryCall(t *testing.T) {
	var h history.History
	res, _ := run(t, suite(3).Test("clients", func(do *Do) {
		h = do.Clients(4, workload, ClientOptions{Ops: 25})
		do.Fetch("n1", "/kv/k0")
		all := do.History()
		if len(all.Ops) != len(h.Ops)+1 || all.Ops[len(all.Ops)-1].Client != history.NoClient {
			do.Failf("the test's history has %d operations, want the %d of the clients and the fetch", len(all.Ops), len(h.Ops))
		}
	}), replicated(0))
	passes(t, res)
	if len(h.Ops) != 100 {
		t.Fatalf("%d operations, want 4 clients × 25", len(h.Ops))
	}
	per := map[int]int{}
	for i, op := range h.Ops {
		per[op.Client]++
		if op.Test != "clients" || op.Node == "" || op.Complete < op.Invoke || op.Outcome == "" {
			t.Errorf("operation %d is incomplete: %+v", i, op)
		}
		if i > 0 && op.Invoke < h.Ops[i-1].Invoke {
			t.Errorf("operation %d invoked before the one before it", i)
		}
		if op.Method == "GET" && op.Status == 404 && op.Outcome != history.Fail {
			t.Errorf("a 404 has outcome %s, want fail", op.Outcome)
		}
	}
	for c := range 4 {
		if per[c] != 25 {
			t.Errorf("client %d made %d calls, want 25", c, per[c])
		}
	}
	// A client's calls are one after another.
	last := map[int]time.Duration{}
	for _, op := range h.Ops {
		if op.Invoke < last[op.Client] {
			t.Errorf("client %d started a call before its previous one completed", op.Client)
		}
		last[op.Client] = op.Complete
	}
	if len(res.History.Ops) != 101 {
		t.Errorf("the run's history has %d operations, want 101", len(res.History.Ops))
	}
}

func TestClientsStopAfterTheDurationAndStopTheNemesis(t *testing.T) {
	var nemesisCalls atomic.Int32
	var h history.History
	began := time.Now()
	res, _ := run(t, suite(3).Test("nemesis", func(do *Do) {
		h = do.Clients(2, func(do *Do, i int) {
			do.Fetch("n1", "/kv/x")
			do.Sleep(10 * time.Millisecond)
		}, ClientOptions{Duration: 300 * time.Millisecond, Nemesis: func(do *Do) {
			nemesisCalls.Add(1)
			do.Partition([]string{"n1"}, []string{"n2", "n3"})
			do.Sleep(50 * time.Millisecond)
			do.Heal()
			do.Sleep(10 * time.Second) // cut short when the clients are done
		}})
	}), replicated(0))
	passes(t, res)
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the run took %v: the nemesis's sleep was not cut short", took)
	}
	if n := nemesisCalls.Load(); n != 1 {
		t.Errorf("nemesis called %d times, want once (its second sleep outlasts the clients)", n)
	}
	if len(h.Ops) < 10 {
		t.Errorf("only %d operations in 300ms", len(h.Ops))
	}
	var texts []string
	for _, e := range h.Events {
		texts = append(texts, e.Text)
	}
	got := strings.Join(texts, "; ")
	if !strings.Contains(got, "PARTITION") || !strings.Contains(got, "HEALED") {
		t.Errorf("history events %q lack the nemesis's partition and heal", got)
	}
}

func TestClientsFailureStopsEveryClient(t *testing.T) {
	var calls atomic.Int32
	res, _ := run(t, suite(1).Test("fails", func(do *Do) {
		do.Clients(3, func(do *Do, i int) {
			calls.Add(1)
			if i == 1 {
				do.Failf("client %d gives up", i)
			}
			do.Sleep(5 * time.Millisecond)
		}, ClientOptions{Duration: 10 * time.Second})
	}), replicated(0))
	f := failure(t, res)
	contains(t, "failure", f.Error(), "client 1 gives up")
	if res.Tests[0].Duration > 5*time.Second {
		t.Errorf("the test took %v: the other clients went on", res.Tests[0].Duration)
	}
}

func TestClientsNeedABound(t *testing.T) {
	res, _ := run(t, suite(1).Test("unbounded", func(do *Do) {
		do.Clients(2, func(*Do, int) {}, ClientOptions{})
	}), replicated(0))
	if v := res.Verdict(); v != engine.VerdictError {
		t.Fatalf("verdict %v, want %v: a script without a bound is not the target's fault", v, engine.VerdictError)
	}
	contains(t, "failure", res.FirstError().Error(), "give a duration")
}

func TestSameSeedSameDraws(t *testing.T) {
	draws := func(seed uint64) string {
		var mu sync.Mutex
		got := map[string][]int{}
		res, _ := run(t, suite(1).Test("draws", func(do *Do) {
			got["test"] = append(got["test"], do.Rand().IntN(1000), do.Rand().IntN(1000))
			do.Clients(3, func(do *Do, i int) {
				v := do.Rand().IntN(1000)
				mu.Lock()
				got[fmt.Sprint("client", i)] = append(got[fmt.Sprint("client", i)], v)
				mu.Unlock()
			}, ClientOptions{Ops: 5, Nemesis: func(do *Do) {
				v := do.Rand().IntN(1000)
				mu.Lock()
				got["nemesis"] = append(got["nemesis"], v)
				mu.Unlock()
				do.Sleep(time.Hour)
			}})
		}), replicated(0), func(o *engine.RunOptions) { o.Seed = seed })
		passes(t, res)
		if res.Seed != seed {
			t.Errorf("result's seed %d, want %d", res.Seed, seed)
		}
		return fmt.Sprint(got)
	}
	a, b, c := draws(42), draws(42), draws(43)
	if a != b {
		t.Errorf("seed 42 drew differently in two runs:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("seeds 42 and 43 drew the same: %s", a)
	}
}

func TestCheckLinearizableOnClients(t *testing.T) {
	for _, tc := range []struct {
		name string
		lag  time.Duration
		pass bool
	}{
		{"consistent store", 0, true},
		{"stale follower reads", 30 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			res, events := run(t, suite(3).Test("Reads Are Linearizable", func(do *Do) {
				h := do.Clients(3, func(do *Do, i int) {
					workload(do, i)
					do.Sleep(time.Millisecond)
				}, ClientOptions{Duration: 600 * time.Millisecond})
				do.CheckLinearizable(h, history.KV(), 0, "Serve reads on the leader only.")
			}), replicated(tc.lag), func(o *engine.RunOptions) { o.ArtifactDir = dir })
			if tc.pass {
				passes(t, res)
				contains(t, "events", fmt.Sprint(events), "LINEARIZABLE: ")
				return
			}
			if v := res.Verdict(); v != engine.VerdictFail {
				t.Fatalf("verdict %v, want %v", v, engine.VerdictFail)
			}
			f := failure(t, res)
			contains(t, "failure", f.Error(), "are not linearizable (model kv, key", "cannot be put in any order", "visualization: ")
			if f.Hint != "Serve reads on the leader only." {
				t.Errorf("hint %q", f.Hint)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "linearizability-clients-test-go-*.html"))
			if len(files) != 1 {
				t.Fatalf("visualizations %v; want one, named after the check site", files)
			}
			contains(t, "failure", f.Error(), files[0])
		})
	}
}

func TestCheckLinearizableThatCannotDecideIsNotTheTargets(t *testing.T) {
	slow := history.KV()
	step := slow.Step
	slow.Step = func(s any, op history.Op) (bool, any) {
		time.Sleep(time.Millisecond)
		return step(s, op)
	}
	slow.Partition, slow.Simplify = nil, nil
	res, _ := run(t, suite(1).Test("slow", func(do *Do) {
		var ops []history.Op
		for i := range 200 {
			ops = append(ops, history.Op{Client: i % 5, Method: "PUT", Path: "/kv/x", Body: fmt.Sprint(i), Outcome: history.Unknown, Invoke: time.Duration(i)})
		}
		ops = append(ops, history.Op{Client: 0, Method: "GET", Path: "/kv/x", Status: 200, Response: "nope", Outcome: history.OK, Invoke: time.Second, Complete: time.Second + 1})
		do.CheckLinearizable(history.History{Ops: ops}, slow, 50*time.Millisecond)
	}), replicated(0))
	if v := res.Verdict(); v != engine.VerdictError {
		t.Fatalf("verdict %v, want %v", v, engine.VerdictError)
	}
	err := res.FirstError()
	contains(t, "failure", err.Error(), "could not decide within 50ms")
}
