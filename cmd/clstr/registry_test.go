package main

import (
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/registry"
)

func TestRegistryUsable(t *testing.T) {
	var r registry.Registry
	r.RegisterBuiltin("kv-store", &registry.Challenge{Name: "Distributed Key-Value Store"})
	r.Register("kv-store", &registry.Challenge{Name: "My Store"})
	var b strings.Builder
	if !registryUsable(&r, &b) {
		t.Fatalf("a replaced built-in challenge makes the program unusable: %s", b.String())
	}
	if !strings.HasPrefix(b.String(), `clstr: note: challenge "kv-store" (My Store) replaces the built-in`) {
		t.Errorf("stderr = %q", b.String())
	}

	r.Register("kv-store", &registry.Challenge{Name: "Another Store"})
	b.Reset()
	if registryUsable(&r, &b) {
		t.Fatal("two challenges of the program under one key are usable")
	}
	if !strings.Contains(b.String(), `clstr: challenge "kv-store" is registered twice (My Store, then Another Store)`) {
		t.Errorf("stderr = %q", b.String())
	}
}
