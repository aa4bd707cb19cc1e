// Package starlarktest provides a fake target for tests of clstr scripts
// without Docker: an attesttest runtime whose nodes follow the node contract
// and serve a small key-value store, a Raft-like GET /cluster/info, and a
// few endpoints that make checks pass or fail on demand.
//
// Endpoints of every node:
//
//	GET    /health             200 "ok"
//	PUT    /kv/{key}           stores the body (400 for an empty value); kept across restarts
//	GET    /kv/{key}           the value, or 404 "key not found"
//	DELETE /kv/{key}           200 whether or not the key existed
//	DELETE /clear              200, the node's store emptied
//	GET    /cluster/info       {"id", "role", "term", "leader", "peers"} as CONTRACT.md says
//	ANY    /echo               {"method", "body", "headers", "node"} (nodehttp)
//	GET    /status/{code}      answers with that status and "status <code>" (nodehttp)
//	GET    /count              how many times this node was asked, from 1
//	GET    /json               a fixed JSON document of every JSON type
//	GET    /headers            200 with X-One: 1 and two X-Many values
//	GET    /redirect           307 to /echo (nodehttp)
//	GET    /sleep/{duration}   answers "slept" after the duration
//	GET    /start              the number of times this node has started
//	POST   /send/{peer}        counts as a message to peer (see traffic.go)
//
// The leader of /cluster/info is the first running node, in node order,
// that reaches a majority of the cluster through the current partition;
// nodes cut off from it say "candidate" and know no leader. The term grows
// each time the leader changes. Knobs on Target change the behaviour for
// planted bugs. A node's DATA_DIR size (data_size) is the bytes of the
// keys and values in its store; the nodes' traffic (traffic()) is what
// POST /send/{peer} sent.
package starlarktest

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/testkit/nodehttp"
)

// Target is a fake cluster program. Make one per run with New: its stores
// and terms outlive node restarts, as a real program's data directory does.
type Target struct {
	// Runtime runs the target's nodes in this process.
	Runtime *attesttest.Runtime

	mu     sync.Mutex // guards the fields below
	kv     map[string]map[string]string
	counts map[string]int
	leader string
	term   int
	// twoLeaders makes every node of a majority claim to lead; see
	// SetTwoLeaders.
	twoLeaders bool
	// termAsString makes /cluster/info send the term as a string; see
	// SetTermAsString.
	termAsString bool
	// gossip holds each node's messages and counter (gossip.go).
	gossip gossipState
	// sent is what POST /send/{peer} sent (traffic.go).
	sent cluster.Traffic
}

// New returns a fresh target with empty stores.
func New() *Target {
	t := &Target{kv: map[string]map[string]string{}, counts: map[string]int{}}
	t.Runtime = attesttest.New(t.handler)
	t.Runtime.DataSize = t.dataSize
	t.Runtime.Traffic = t.traffic
	return t
}

// dataSize is the bytes of the keys and values in a node's store.
func (t *Target) dataSize(node string) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for k, v := range t.kv[node] {
		n += int64(len(k) + len(v))
	}
	return n, nil
}

// SetTermAsString plants a bug: /cluster/info sends "term" as a string.
func (t *Target) SetTermAsString(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.termAsString = on
}

// SetTwoLeaders plants a bug: every node of the majority says it leads.
func (t *Target) SetTwoLeaders(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.twoLeaders = on
}

func (t *Target) handler(n *attesttest.Node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/kv/{key}", func(w http.ResponseWriter, r *http.Request) { t.serveKV(n, w, r) })
	mux.HandleFunc("/kv/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "key cannot be empty", http.StatusBadRequest)
	})
	mux.HandleFunc("DELETE /clear", func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		delete(t.kv, n.Name)
		t.mu.Unlock()
	})
	mux.HandleFunc("GET /cluster/info", func(w http.ResponseWriter, r *http.Request) { t.serveInfo(n, w) })
	t.routeGossip(mux, n)
	t.routeTraffic(mux, n)
	nodehttp.Route(mux, n.Name)
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		t.counts[n.Name]++
		c := t.counts[n.Name]
		t.mu.Unlock()
		fmt.Fprint(w, c)
	})
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"int": 3, "neg": -7, "float": 1.5, "big": 12345678901234567890, "exp": 1e3,
"str": "x y", "yes": true, "no": false, "null": null, "list": [1, "a", null], "obj": {"b": 1, "a": [2]}, "empty": {}}`)
	})
	mux.HandleFunc("GET /headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-One", "1")
		w.Header().Add("X-Many", "a")
		w.Header().Add("X-Many", "b")
		io.WriteString(w, "headers")
	})
	mux.HandleFunc("GET /sleep/{d}", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.PathValue("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			io.WriteString(w, "slept")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /start", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, t.Runtime.Last().Starts(n.Name))
	})
	return mux
}

func (t *Target) serveKV(n *attesttest.Node, w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	t.mu.Lock()
	defer t.mu.Unlock()
	store := t.kv[n.Name]
	if store == nil {
		store = map[string]string{}
		t.kv[n.Name] = store
	}
	switch r.Method {
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		if len(body) == 0 {
			http.Error(w, "value cannot be empty", http.StatusBadRequest)
			return
		}
		store[key] = string(body)
	case http.MethodGet:
		v, ok := store[key]
		if !ok {
			http.Error(w, "key not found", http.StatusNotFound)
			return
		}
		io.WriteString(w, v)
	case http.MethodDelete:
		delete(store, key)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveInfo answers GET /cluster/info.
func (t *Target) serveInfo(n *attesttest.Node, w http.ResponseWriter) {
	c := t.Runtime.Last()
	names := c.Nodes()
	addrs := map[string]string{}
	for _, name := range names {
		addrs[name], _ = c.Addr(name)
	}
	// majority reports whether a node reaches more than half the cluster,
	// itself included.
	majority := func(a string) bool {
		reach := 0
		for _, b := range names {
			if c.Running(b) && (a == b || !c.Blocked(a, b)) {
				reach++
			}
		}
		return reach*2 > len(names)
	}
	leader := ""
	for _, name := range names {
		if c.Running(name) && majority(name) {
			leader = name
			break
		}
	}
	t.mu.Lock()
	if leader != "" && leader != t.leader {
		t.leader = leader
		t.term++
	}
	var term any = t.term
	if t.termAsString {
		term = strconv.Itoa(t.term)
	}
	two := t.twoLeaders
	t.mu.Unlock()

	role := "follower"
	var leaderAddr any
	switch {
	case !majority(n.Name):
		role = "candidate"
	case n.Name == leader || two:
		role = "leader"
		leaderAddr = addrs[n.Name]
	default:
		leaderAddr = addrs[leader]
	}
	peers := append([]string(nil), n.Peers...)
	sort.Strings(peers)
	nodehttp.WriteJSON(w, map[string]any{"id": n.Addr, "role": role, "term": term, "leader": leaderAddr, "peers": peers})
}
