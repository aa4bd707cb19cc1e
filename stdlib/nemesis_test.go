package stdlib_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
	"github.com/clstr-dev/clstr/stdlib"
)

// rounds runs testdata/seed/schedule.star with seed and returns, for each
// test, what its nemesis did, in order: the rounds it logged and the
// faults' own events.
func rounds(t *testing.T, seed uint64) map[string][]string {
	t.Helper()
	s, err := starlark.Load("testdata/seed/schedule.star", starlark.Options{Stdlib: stdlib.FS})
	if err != nil {
		t.Fatal(err)
	}
	events := cluster.NewEventLog(nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := s.Suite().Run(ctx, engine.RunOptions{Runtime: starlarktest.New().Runtime, Events: events, Seed: seed})
	if err := res.FirstError(); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	out := map[string][]string{}
	test := ""
	for _, e := range events.Events() {
		switch e.Kind {
		case cluster.EventTest:
			test = e.Detail
		case cluster.EventLogged:
			if strings.HasPrefix(e.Detail, "nemesis:") {
				out[test] = append(out[test], e.Node+" "+e.Text())
			}
		case cluster.EventPartition, cluster.EventCut, cluster.EventKill, cluster.EventPause, cluster.EventImpair:
			out[test] = append(out[test], e.Node+" "+e.Text())
		}
	}
	return out
}

func nemesisRounds(events []string) []string {
	var out []string
	for _, e := range events {
		if strings.Contains(e, "LOG: nemesis:") {
			out = append(out, e)
		}
	}
	return out
}

// TestSameSeedSameSchedule checks that a composed nemesis draws its
// schedule from the run's seed only: the same seed gives the same
// rounds, with the same victims, in the same order; another seed does
// not. Beside clients the number of rounds depends on timing, so there
// the rounds both runs had are compared.
func TestSameSeedSameSchedule(t *testing.T) {
	a, b, other := rounds(t, 7), rounds(t, 7), rounds(t, 8)
	if len(nemesisRounds(a["direct"])) != 12 {
		t.Fatalf("direct: %d rounds, want 12: %q", len(nemesisRounds(a["direct"])), a["direct"])
	}
	if !slices.Equal(a["direct"], b["direct"]) {
		t.Errorf("seed 7 twice gave two schedules:\n%q\n%q", a["direct"], b["direct"])
	}
	if slices.Equal(nemesisRounds(a["direct"]), nemesisRounds(other["direct"])) {
		t.Errorf("seeds 7 and 8 gave the same schedule: %q", nemesisRounds(a["direct"]))
	}
	ra, rb := nemesisRounds(a["beside clients"]), nemesisRounds(b["beside clients"])
	n := min(len(ra), len(rb))
	if n < 3 {
		t.Fatalf("beside clients: only %d and %d rounds in 1.5s", len(ra), len(rb))
	}
	if !slices.Equal(ra[:n], rb[:n]) {
		t.Errorf("beside clients, seed 7 twice:\n%q\n%q", ra[:n], rb[:n])
	}
	t.Logf("seed 7: %q", nemesisRounds(a["direct"]))
}
