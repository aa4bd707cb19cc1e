package docker

import (
	"context"
	"sync"
	"testing"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/cluster/clustertest"
)

// TestConformance runs the suite every runtime passes on real containers
// of the test node.
func TestConformance(t *testing.T) {
	dockerOrSkip(t)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	created := &createdClusters{Runtime: rt}
	// Registered before the suite's own cleanup, so it runs after the
	// suite has closed its cluster.
	t.Cleanup(func() {
		for _, c := range created.all() {
			assertNothingLeft(t, rt, c.run)
		}
	})
	clustertest.Run(t, created)
}

// createdClusters is a Runtime that remembers the clusters it created.
type createdClusters struct {
	*Runtime
	mu       sync.Mutex // guards clusters
	clusters []*dockerCluster
}

func (r *createdClusters) Create(ctx context.Context, spec cluster.Spec) (cluster.Cluster, error) {
	c, err := r.Runtime.Create(ctx, spec)
	if err == nil {
		r.mu.Lock()
		r.clusters = append(r.clusters, c.(*dockerCluster))
		r.mu.Unlock()
	}
	return c, err
}

func (r *createdClusters) all() []*dockerCluster {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clusters
}
