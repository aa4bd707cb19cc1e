package starlark_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
	"github.com/clstr-dev/clstr/stdlib"
)

// fuzzLimits are small, so that every input ends within seconds.
func fuzzLimits() starlark.Limits {
	lim := starlark.DefaultLimits()
	lim.Steps = 1_000_000
	lim.TestTime = time.Second
	lim.StageTime = 2 * time.Second
	lim.Nodes = 3
	lim.Concurrently = 50
	lim.ConcurrencyLimit = 8
	lim.Requests = 500
	lim.Sleep = 200 * time.Millisecond
	lim.Memory = 256 << 20
	lim.Output = 64 << 10
	return lim
}

// FuzzScript loads and runs arbitrary scripts sandboxed against the fake
// target: no input may crash the runner, outlive its limits, or leave
// anything running. CI runs it briefly:
//
//	go test -run '^$' -fuzz=FuzzScript -fuzztime=20s ./starlark/
func FuzzScript(f *testing.F) {
	for _, pattern := range []string{"testdata/*.star", "testdata/hostile/*.star"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			src, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			// A script that takes memory runs in a child process the
			// kernel bounds (TestHostileScripts); in this process one
			// step of it could take gigabytes.
			if strings.Contains(string(src), "\n# limit: memory\n") {
				continue
			}
			f.Add(string(src))
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "fuzz.star")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		lim := fuzzLimits()
		lim.Runaway = func(e *starlark.LimitError) { panic("the script ran away: " + e.Error()) }
		start := time.Now()
		s, err := starlark.Load(path, starlark.Options{Stdlib: stdlib.FS, Sandbox: &lim})
		if err != nil {
			if took := time.Since(start); took > 10*time.Second {
				t.Fatalf("Load took %v", took)
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res := s.Suite().Run(ctx, engine.RunOptions{Runtime: starlarktest.New().Runtime, Events: cluster.NewEventLog(nil)})
		if took := time.Since(start); took > 20*time.Second {
			t.Fatalf("the run took %v; the limits allow a few seconds: %v", took, res.FirstError())
		}
		if ctx.Err() != nil {
			t.Fatalf("the run outlived its limits: %v", res.FirstError())
		}
	})
}
