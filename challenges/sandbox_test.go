package challenges

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/stdlib"
)

// TestBuiltinStagesFitTheSandbox loads every built-in stage sandboxed
// under the default limits: its top level (the suite it declares, its
// timeouts, its cluster size) must fit them, so that running a copy of a
// built-in stage as a community challenge works unchanged.
func TestBuiltinStagesFitTheSandbox(t *testing.T) {
	tmp := t.TempDir()
	scripts, err := fs.Glob(FS, "*/*.star")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range scripts {
		data, _ := fs.ReadFile(FS, p)
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lim := starlark.DefaultLimits()
	stages := 0
	for _, p := range scripts {
		s, err := starlark.Load(filepath.Join(tmp, filepath.FromSlash(p)), starlark.Options{Stdlib: stdlib.FS, Root: tmp, Sandbox: &lim})
		if err != nil && strings.Contains(err.Error(), "registers no test") {
			continue // a module of helpers, not a stage
		}
		if err != nil {
			t.Errorf("%s does not load sandboxed: %v", p, err)
			continue
		}
		stages++
		if c := s.Config(); c.Nodes > lim.Nodes || c.ConcurrencyLimit > lim.ConcurrencyLimit {
			t.Errorf("%s: %d nodes, concurrency limit %d", p, c.Nodes, c.ConcurrencyLimit)
		}
	}
	if stages < 5 {
		t.Errorf("%d stages loaded; want the five built-in ones at least", stages)
	}
}

// TestLoadDirSandboxes checks that a challenge directory runs sandboxed
// unless it is trusted.
func TestLoadDirSandboxes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ManifestName, `{"key": "big", "name": "Big", "summary": "a big cluster", "stages": [{"key": "one", "title": "One", "summary": "one", "script": "one.star"}]}`)
	write("one.star", "suite(cluster = 40)\ntest(\"T\", lambda: None)\n")
	_, err := LoadDir(dir)
	var le *starlark.LimitError
	if !errors.As(err, &le) || le.Limit != "cluster size" {
		t.Fatalf("LoadDir: %v; want the cluster size limit", err)
	}
	if _, err := LoadDirWith(dir, DirOptions{Trust: true}); err != nil {
		t.Errorf("LoadDirWith trusted: %v", err)
	}
	lim := starlark.DefaultLimits()
	lim.Nodes = 40
	if _, err := LoadDirWith(dir, DirOptions{Limits: &lim}); err != nil {
		t.Errorf("LoadDirWith a raised limit: %v", err)
	}
}
