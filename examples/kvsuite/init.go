// Package kvsuite is the kv-store challenge written as a Go suite in the
// original attest's style: attest dot-imported, do. calls, numbered tests
// with hints, and registration in init — under the key of the built-in
// kv-store challenge, which it replaces. Its tests run it on real
// containers against examples/kv.
package kvsuite

import "github.com/clstr-dev/clstr/registry"

func init() {
	challenge := &registry.Challenge{
		Name:    "Distributed Key-Value Store (Go suite)",
		Summary: `Build a distributed key-value store from scratch.`,
	}

	challenge.AddStage("http-api", "Store and Retrieve Data", HTTPAPI)
	challenge.AddStage("persistence", "Data Survives SIGTERM", Persistence)
	challenge.AddStage("crash-recovery", "Data Survives SIGKILL", CrashRecovery)

	registry.RegisterChallenge("kv-store", challenge)
}
