package starlarktest

import (
	"io"
	"maps"
	"net/http"

	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
)

// routeTraffic adds POST /send/{peer}, which stands for a message to
// another node: the fake target's nodes send each other nothing, so a
// script that counts traffic (traffic()) sees only these, each one packet
// of the body's length plus 28 bytes (the IP and UDP headers of a
// datagram).
func (t *Target) routeTraffic(mux *http.ServeMux, n *attesttest.Node) {
	mux.HandleFunc("POST /send/{peer}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.sent == nil {
			t.sent = cluster.Traffic{}
		}
		p := cluster.Pair{From: n.Name, To: r.PathValue("peer")}
		t.sent[p] = t.sent[p].Add(cluster.Count{Packets: 1, Bytes: uint64(len(body)) + 28})
	})
}

// traffic is what the nodes sent each other with POST /send/{peer}, for
// every pair of the cluster's nodes.
func (t *Target) traffic() (cluster.Traffic, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := cluster.Traffic{}
	names := t.Runtime.Last().Nodes()
	for _, from := range names {
		for _, to := range names {
			if from != to {
				out[cluster.Pair{From: from, To: to}] = cluster.Count{}
			}
		}
	}
	maps.Copy(out, t.sent)
	return out, nil
}
