package starlarktest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/clstr-dev/clstr/attest/attesttest"
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
	field := func(r *http.Request, name string) (int64, bool) {
		var m map[string]int64
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &m) != nil {
			return 0, false
		}
		v, ok := m[name]
		return v, ok
	}
	mux.HandleFunc("POST /broadcast", func(w http.ResponseWriter, r *http.Request) {
		v, ok := field(r, "message")
		if !ok {
			http.Error(w, `want {"message": n}`, http.StatusBadRequest)
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
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
		writeJSON(w, map[string][]int64{"messages": out})
	})
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		v, ok := field(r, "delta")
		if !ok {
			http.Error(w, `want {"delta": n}`, http.StatusBadRequest)
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.gossip.counter == nil {
			t.gossip.counter = map[string]int64{}
		}
		t.gossip.counter[n.Name] += v
	})
	mux.HandleFunc("GET /counter", func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		v := t.gossip.counter[n.Name]
		t.mu.Unlock()
		writeJSON(w, map[string]int64{"value": v})
	})
}
