package challenges

import (
	"testing"

	"github.com/clstr-dev/clstr/registry"
)

// TestGossipStagesLoad checks, without Docker, that the gossip stages
// load and declare the clusters their descriptions promise.
func TestGossipStagesLoad(t *testing.T) {
	c, ok := registry.Lookup("gossip")
	if !ok {
		t.Fatal("gossip is not in registry.Default")
	}
	want := map[string]int{"single-node-broadcast": 1, "multi-node-broadcast": 5, "fault-tolerant-broadcast": 5, "fast-broadcast": 25, "frugal-broadcast": 25, "grow-only-counter": 5, "pn-counter": 5}
	if len(c.Stages) != len(want) {
		t.Fatalf("%d stages, want %d", len(c.Stages), len(want))
	}
	for _, s := range c.Stages {
		suite, err := s.Suite()
		if err != nil {
			t.Fatalf("%s: %v", s.Key, err)
		}
		if got := suite.Config().Nodes; got != want[s.Key] {
			t.Errorf("%s: cluster of %d, want %d", s.Key, got, want[s.Key])
		}
		if s.Description == "" || len(suite.TestNames()) == 0 {
			t.Errorf("%s: no description or no tests", s.Key)
		}
	}
}
