package challenges

import (
	"testing"

	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/stdlib"
)

// TestHistoriesOnContainers runs the history scripts of testdata/histories
// on real containers: a correct store whose answers a lossy network drops
// passes (its unknown writes stay open), followers that answer reads from
// their own state fail where redirecting followers pass, and a second
// history on the keys of a first starts where the first left them.
func TestHistoriesOnContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs clusters of containers")
	}
	dockerOrSkip(t)
	checkNothingLeftAfter(t)
	var cases []suiteCase
	for _, tc := range []struct {
		script string
		mc     matrixCase
	}{
		{"lossy_store.star", matrixCase{target: kv, fails: pass}},
		{"follower_reads.star", matrixCase{target: raft, fails: pass}},
		{"follower_reads.star", matrixCase{target: raft, bug: "no-redirect", fails: "Reads on Every Node Are Linearizable"}},
		{"shared_keys.star", matrixCase{target: raft, fails: pass}},
		{"shared_keys.star", matrixCase{target: raft, bug: "no-redirect", fails: "Writes Through Any Node"}},
	} {
		name := tc.script + "/correct"
		if tc.mc.bug != "" {
			name = tc.script + "/" + tc.mc.bug
		}
		s, err := starlark.Load("testdata/histories/"+tc.script, starlark.Options{Stdlib: stdlib.FS})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cases = append(cases, suiteCase{name, s.Suite(), tc.mc})
	}
	runCases(t, cases)
}
