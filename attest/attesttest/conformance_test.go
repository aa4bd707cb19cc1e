package attesttest_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/cluster/clustertest"
)

// TestConformance runs the suite every runtime passes, with nodes that
// act on the partitions, cuts and losses the runtime records as the
// Docker runtime's nodes undergo them.
func TestConformance(t *testing.T) {
	rt := attesttest.New(nil)
	rt.Handler = func(n *attesttest.Node) http.Handler { return probeNode(rt, n) }
	clustertest.Run(t, rt)
}

// probeNode answers the requests of clstr's test node that the suite
// makes (see clustertest), from the fault state of rt's cluster.
func probeNode(rt *attesttest.Runtime, n *attesttest.Node) http.Handler {
	var mu sync.Mutex // guards received
	received := map[string]int{}
	// name returns the node at addr.
	name := func(c *attesttest.Cluster, addr string) (string, bool) {
		for _, p := range c.Nodes() {
			if a, _ := c.Addr(p); a == addr {
				return p, true
			}
		}
		return "", false
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /probe/dial", func(w http.ResponseWriter, r *http.Request) {
		c := rt.Last()
		addr := r.URL.Query().Get("addr")
		timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
		if err != nil {
			timeout = 2 * time.Second
		}
		peer, ok := name(c, addr)
		switch {
		case !ok:
			err = fmt.Errorf("%s is no node", addr)
		case !delivers(c, n.Name, peer) || !delivers(c, peer, n.Name):
			err = fmt.Errorf("dial tcp %s: i/o timeout", addr)
		default:
			var conn net.Conn
			if conn, err = net.DialTimeout("tcp", addr, timeout); err == nil {
				conn.Close()
			}
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	})
	mux.HandleFunc("GET /probe/send", func(w http.ResponseWriter, r *http.Request) {
		c := rt.Last()
		addr, count := r.URL.Query().Get("peer"), r.URL.Query().Get("n")
		peer, ok := name(c, addr)
		if !ok {
			http.Error(w, "peer must be a node", http.StatusBadRequest)
			return
		}
		// As a datagram, a one-way message needs only its own way.
		if delivers(c, n.Name, peer) {
			client := &http.Client{Timeout: time.Second}
			if resp, err := client.Post("http://"+addr+"/oneway?n="+count+"&from="+n.Name, "", nil); err == nil {
				resp.Body.Close()
			}
		}
		k, _ := strconv.Atoi(count)
		json.NewEncoder(w).Encode(map[string]int{"sent": k})
	})
	mux.HandleFunc("POST /oneway", func(w http.ResponseWriter, r *http.Request) {
		k, _ := strconv.Atoi(r.URL.Query().Get("n"))
		mu.Lock()
		received[r.URL.Query().Get("from")] += k
		mu.Unlock()
	})
	mux.HandleFunc("GET /received", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		json.NewEncoder(w).Encode(received)
	})
	return mux
}

// delivers reports whether what node a sends to node b arrives: no
// partition or cut drops it, and no loss of 100% on a's traffic to b.
func delivers(c *attesttest.Cluster, a, b string) bool {
	if c.Blocked(a, b) || c.IsCut(a, b) {
		return false
	}
	for _, imp := range c.Impairments(a) {
		towards := c.Towards(a)
		if imp.Kind == cluster.KindLoss && imp.Percent >= 100 && (len(towards) == 0 || slices.Contains(towards, b)) {
			return false
		}
	}
	return true
}
