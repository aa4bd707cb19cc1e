package registry_test

import (
	"slices"
	"testing"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/registry"
)

func suite() *attest.Suite { return attest.New(attest.WithCluster(2)) }

func TestRegistry(t *testing.T) {
	var r registry.Registry
	kv := &registry.Challenge{Name: "Distributed Key-Value Store", Summary: "Build one."}
	kv.AddStage("http-api", "Store and Retrieve Data", suite)
	kv.AddStage("persistence", "Data Survives SIGTERM", suite)
	r.Register("kv-store", kv)
	r.Register("raft", &registry.Challenge{Name: "Raft"})

	c, ok := r.Lookup("kv-store")
	if !ok || c != kv || c.Key != "kv-store" {
		t.Fatalf("Lookup(kv-store) = %v, %v", c, ok)
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
	var keys []string
	for _, c := range r.Challenges() {
		keys = append(keys, c.Key)
	}
	if !slices.Equal(keys, []string{"kv-store", "raft"}) {
		t.Errorf("Challenges() keys = %v", keys)
	}
	var stages []string
	for _, s := range kv.Stages {
		stages = append(stages, s.Key+"="+s.Title)
	}
	if want := []string{"http-api=Store and Retrieve Data", "persistence=Data Survives SIGTERM"}; !slices.Equal(stages, want) {
		t.Errorf("stages = %v, want %v", stages, want)
	}
	s, ok := kv.Stage("persistence")
	if !ok {
		t.Fatal("Stage(persistence) not found")
	}
	got, err := s.Suite()
	if err != nil || got.Config().Nodes != 2 {
		t.Errorf("Suite() = %v, %v", got, err)
	}
}

func TestRegistryMistakesPanic(t *testing.T) {
	tests := []struct {
		name string
		fn   func()
	}{
		{"duplicate challenge", func() {
			var r registry.Registry
			r.Register("x", &registry.Challenge{})
			r.Register("x", &registry.Challenge{})
		}},
		{"empty challenge key", func() {
			var r registry.Registry
			r.Register("", &registry.Challenge{})
		}},
		{"duplicate stage", func() {
			c := &registry.Challenge{}
			c.AddStage("a", "A", suite)
			c.AddStage("a", "A again", suite)
		}},
		{"stage without suite", func() {
			c := &registry.Challenge{}
			c.Add(&registry.Stage{Key: "a"})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.fn()
		})
	}
}
