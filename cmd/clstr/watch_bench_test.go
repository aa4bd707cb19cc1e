package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkWatchReload measures clstr run --watch from a save to the new
// run's first test request: the time from writing the file to the moment
// the new cluster has answered the first request of the first test
// (its "✓" line on the output, which follows the answer by well under a
// millisecond). Each reload starts from an idle watcher (the last run and
// its teardown are over) with a warm image, as after an edit in a pause.
//
//	go test -run X -bench WatchReload -benchtime 10x ./cmd/clstr
func BenchmarkWatchReload(b *testing.B) {
	dockerOrSkip(b)
	_, testnode := binaries(b)
	for _, bc := range []struct {
		name  string
		nodes int
		touch bool // touch the binary instead of saving the script
	}{
		{"script/nodes=1", 1, false},
		{"script/nodes=5", 5, false},
		{"binary/nodes=1", 1, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			node := copyBinary(b, testnode)
			script := func(i int) string {
				return fmt.Sprintf("suite(cluster = %d)\ntest(\"t%d\", lambda: get(\"n1\", \"/health\").status(200).run())\n", bc.nodes, i)
			}
			w := startWatch(b, map[string]string{"s.star": script(0)}, nil, "run", "--watch", "--trust", "--binary", node, "s.star")
			w.waitFor("✓ t0", 1)
			w.waitFor("· watching", 1)

			var took []time.Duration
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				start := time.Now()
				want := fmt.Sprintf("✓ t%d ", i)
				if bc.touch {
					want = "✓ t0 "
					if err := os.Chtimes(node, start, start); err != nil {
						b.Fatal(err)
					}
					w.waitFor(want, i+1)
				} else {
					w.save("s.star", script(i))
					w.waitFor(want, 1)
				}
				took = append(took, time.Since(start))
				b.StopTimer()
				w.waitFor("· watching", i+1)
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(ms(took[len(took)/2]), "median-ms")
			b.ReportMetric(ms(took[0]), "min-ms")
			b.ReportMetric(ms(took[len(took)-1]), "max-ms")
			if strings.Contains(w.out.String(), "FAILED") || strings.Contains(w.out.String(), "ERROR") {
				b.Fatalf("a run did not pass:\n%s", w.out.String())
			}
			if status := w.interrupt(); status != 2 {
				b.Errorf("exit status %d after Ctrl-C; want 2", status)
			}
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
