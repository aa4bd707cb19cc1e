package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/session"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
	"github.com/clstr-dev/clstr/stdlib"
)

var update = flag.Bool("update", false, "rewrite the golden files of failure output")

// Run-dependent parts of the output.
var (
	portPattern = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	// The duration of a test, "(85ms)", and of the run, "in 1.2s".
	durationPattern = regexp.MustCompile(`(\(| in )\d+(\.\d+)?(ms|s)\b`)
)

func normalize(s string) string {
	s = portPattern.ReplaceAllString(s, "127.0.0.1:PORT")
	return durationPattern.ReplaceAllString(s, "${1}DUR")
}

// runOnFake runs s on a fresh fake target in a session as clstr run
// does, shown on out, and returns the exit status.
func runOnFake(out *output, s session.Stage, opts session.Options) int {
	rt := starlarktest.New().Runtime
	opts.Runtime = func(context.Context) (cluster.Runtime, func() error, error) { return rt, nil, nil }
	opts.Live = out
	opts.Reporters = append([]session.Reporter{out}, opts.Reporters...)
	sess := session.Open(opts)
	sess.Run(context.Background(), s)
	return sess.Close()
}

// TestGolden runs the scripts of testdata/golden against the fake target
// and compares what clstr run prints with the .golden files beside them;
// -update rewrites them, to be reviewed in the diff. The scripts with
// "color" in their name are printed with ANSI colours.
func TestGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/golden/*.star")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden scripts: %v", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".star")
		for _, color := range []bool{false, true} {
			if color && name != "check" {
				continue
			}
			golden := strings.TrimSuffix(path, ".star") + ".golden"
			if color {
				golden = strings.TrimSuffix(path, ".star") + ".color.golden"
			}
			t.Run(filepath.Base(golden), func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				out := &output{w: &buf, color: color}
				s, err := starlark.Load(path, starlark.Options{Stdlib: stdlib.FS, Print: out.print})
				if err != nil {
					t.Fatal(err)
				}
				root := t.TempDir()
				status := runOnFake(out, s, session.Options{Root: root, Target: "fake target", Seed: 42})
				got := normalize(strings.ReplaceAll(buf.String(), root+string(filepath.Separator), "")) + "exit status " + string(rune('0'+status)) + "\n"
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", golden, got, want)
				}
			})
		}
	}
}
