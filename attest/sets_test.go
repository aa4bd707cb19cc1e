package attest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// sharedSet is a runtime whose nodes share one set of messages and one
// counter, as a perfect gossip would; n2 never shows the message hidden
// and reads the counter one short.
func sharedSet(hidden int) http.Handler {
	var (
		mu       sync.Mutex // guards messages and total
		messages []int
		total    int
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /broadcast", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Message int }
		data, _ := io.ReadAll(r.Body)
		json.Unmarshal(data, &b)
		mu.Lock()
		messages = append(messages, b.Message)
		mu.Unlock()
	})
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Delta int }
		data, _ := io.ReadAll(r.Body)
		json.Unmarshal(data, &b)
		mu.Lock()
		total += b.Delta
		mu.Unlock()
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		out := slices.DeleteFunc(slices.Clone(messages), func(m int) bool { return m == hidden && r.Header.Get("X-Node") == "n2" })
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string][]int{"messages": out})
	})
	mux.HandleFunc("GET /counter", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v := total
		mu.Unlock()
		if hidden > 0 && r.Header.Get("X-Node") == "n2" {
			v--
		}
		json.NewEncoder(w).Encode(map[string]int{"value": v})
	})
	return mux
}

func setRuntime(hidden int) handlerFunc {
	h := sharedSet(hidden)
	return func(node string, w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-Node", node)
		h.ServeHTTP(w, r)
	}
}

func gossipClients(do *Do) history.History {
	h := do.Clients(3, func(do *Do, i int) {
		do.Send("POST", fmt.Sprintf("n%d", i+1), "/broadcast", fmt.Sprintf(`{"message": %d}`, do.Rand().IntN(5)))
		do.Send("POST", fmt.Sprintf("n%d", i+1), "/add", `{"delta": 2}`)
	}, ClientOptions{Ops: 4})
	final := do.Clients(3, func(do *Do, i int) {
		do.Fetch(fmt.Sprintf("n%d", i+1), "/read")
		do.Fetch(fmt.Sprintf("n%d", i+1), "/counter")
	}, ClientOptions{Ops: 1})
	return history.History{Ops: append(h.Ops, final.Ops...)}
}

func TestCheckSetAndCounter(t *testing.T) {
	t.Run("pass", func(t *testing.T) {
		res, events := run(t, suite(3).Test("gossip", func(do *Do) {
			h := gossipClients(do)
			do.CheckSet(h, history.Broadcast, 0)
			do.CheckCounter(h, history.Counter)
		}), runtime(setRuntime(-1)))
		passes(t, res)
		contains(t, "events", fmt.Sprint(events), "SET OK: ", "COUNTER OK: ")
	})
	t.Run("a message n2 never shows", func(t *testing.T) {
		res, _ := run(t, suite(3).Test("gossip", func(do *Do) {
			h := gossipClients(do)
			h.Ops = append(h.Ops, do.Clients(1, func(do *Do, i int) {
				do.Send("POST", "n1", "/broadcast", `{"message": 99}`)
				do.Fetch("n1", "/read")
				do.Fetch("n2", "/read")
			}, ClientOptions{Ops: 1}).Ops...)
			do.CheckSet(h, history.Broadcast, 0, "gossip every message to every node")
		}), runtime(setRuntime(99)))
		f := failure(t, res)
		contains(t, "failure", f.Problem, "message 99, acknowledged by n1 at", "missing from the last read of n2")
		if f.Hint != "gossip every message to every node" {
			t.Errorf("hint %q", f.Hint)
		}
	})
	t.Run("a counter one short on n2", func(t *testing.T) {
		res, _ := run(t, suite(3).Test("gossip", func(do *Do) {
			do.CheckCounter(gossipClients(do), history.Counter)
		}), runtime(setRuntime(99)))
		contains(t, "failure", failure(t, res).Problem, "n2 reads 23", "want 24")
	})
	t.Run("nothing to check", func(t *testing.T) {
		res, _ := run(t, suite(1).Test("gossip", func(do *Do) {
			do.CheckSet(history.History{}, history.Broadcast, 0)
		}), runtime(setRuntime(-1)))
		if v := res.Verdict(); v != engine.VerdictError {
			t.Fatalf("verdict %v, want %v", v, engine.VerdictError)
		}
		contains(t, "error", res.FirstError().Error(), "nothing to check: the history has no read with a 2xx answer")
	})
}
