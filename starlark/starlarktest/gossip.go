package starlarktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/internal/testkit/nodehttp"
)

// gossipState is what the gossip challenge's routes keep, node by node:
// nothing travels between nodes, so a script sees a message on a node
// only if it broadcast it there itself.
type gossipState struct {
	messages map[string][]int64
	counter  map[string]int64
}

// routeGossip adds the gossip challenge's routes: POST /broadcast
// {"message": n}, GET /read → {"messages": […]}, POST /add {"delta": n},
// GET /counter → {"value": n}.
func (t *Target) routeGossip(mux *http.ServeMux, n *attesttest.Node) {
	// post routes a POST to path whose body is {"<name>": n} to apply,
	// which is called with n under t.mu.
	post := func(path, name string, apply func(v int64)) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			var m map[string]int64
			body, _ := io.ReadAll(r.Body)
			err := json.Unmarshal(body, &m)
			v, ok := m[name]
			if err != nil || !ok {
				http.Error(w, fmt.Sprintf(`want {%q: n}`, name), http.StatusBadRequest)
				return
			}
			t.mu.Lock()
			defer t.mu.Unlock()
			apply(v)
		})
	}
	post("/broadcast", "message", func(v int64) {
		if t.gossip.messages == nil {
			t.gossip.messages = map[string][]int64{}
		}
		if !slices.Contains(t.gossip.messages[n.Name], v) {
			t.gossip.messages[n.Name] = append(t.gossip.messages[n.Name], v)
		}
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		out := append([]int64{}, t.gossip.messages[n.Name]...)
		t.mu.Unlock()
		nodehttp.WriteJSON(w, map[string][]int64{"messages": out})
	})
	post("/add", "delta", func(v int64) {
		if t.gossip.counter == nil {
			t.gossip.counter = map[string]int64{}
		}
		t.gossip.counter[n.Name] += v
	})
	mux.HandleFunc("GET /counter", func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		v := t.gossip.counter[n.Name]
		t.mu.Unlock()
		nodehttp.WriteJSON(w, map[string]int64{"value": v})
	})
}
