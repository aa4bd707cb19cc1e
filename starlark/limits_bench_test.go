package starlark

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkSandboxSteps measures what the sandbox's step accounting costs
// a busy script: the same loop loaded trusted and sandboxed.
func BenchmarkSandboxSteps(b *testing.B) {
	path := filepath.Join(b.TempDir(), "loop.star")
	src := "def loop():\n    n = 0\n    for i in range(1000000):\n        n += i\n    return n\n\ntotal = loop()\ntest(\"T\", lambda: None)\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	lim := DefaultLimits()
	for _, tc := range []struct {
		name string
		opts Options
	}{{"trusted", Options{}}, {"sandboxed", Options{Sandbox: &lim}}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Load(path, tc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
