package registry_test

import (
	"slices"
	"strings"
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

// TestRegisterBuiltinKey checks that a challenge of the program may take
// the key of a built-in one, registered before or after it, and replaces
// it with a note, never a panic.
func TestRegisterBuiltinKey(t *testing.T) {
	for _, builtinFirst := range []bool{true, false} {
		var r registry.Registry
		mine := &registry.Challenge{Name: "My Store"}
		builtin := &registry.Challenge{Name: "Distributed Key-Value Store"}
		if builtinFirst {
			r.RegisterBuiltin("kv-store", builtin)
			r.Register("kv-store", mine)
		} else {
			r.Register("kv-store", mine)
			r.RegisterBuiltin("kv-store", builtin)
		}
		r.Register("beside", &registry.Challenge{Name: "Beside"})
		if c, _ := r.Lookup("kv-store"); c != mine {
			t.Errorf("builtin first %v: kv-store is %v, want the program's", builtinFirst, c)
		}
		if c, ok := r.Lookup("beside"); !ok || c.Key != "beside" {
			t.Errorf("builtin first %v: a challenge under its own key is missing: %v", builtinFirst, c)
		}
		if err := r.Err(); err != nil {
			t.Errorf("builtin first %v: Err() = %v", builtinFirst, err)
		}
		notes := r.Notes()
		if len(notes) != 1 || !strings.Contains(notes[0], `challenge "kv-store" (My Store) replaces the built-in challenge "kv-store" (Distributed Key-Value Store)`) {
			t.Errorf("builtin first %v: Notes() = %q", builtinFirst, notes)
		}
	}
}

func TestRegistryMistakes(t *testing.T) {
	var r registry.Registry
	first := &registry.Challenge{Name: "First"}
	r.Register("x", first)
	r.Register("x", &registry.Challenge{Name: "Second"})
	r.Register("", &registry.Challenge{Name: "Nameless"})
	if c, _ := r.Lookup("x"); c != first {
		t.Errorf("x is %v, want the first", c)
	}
	err := r.Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`challenge "x" is registered twice (First, then Second)`, `a challenge ("Nameless") was registered without a key`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %v, want it to say %q", err, want)
		}
	}
}

func TestStageMistakesPanic(t *testing.T) {
	tests := []struct {
		name string
		fn   func()
	}{
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
