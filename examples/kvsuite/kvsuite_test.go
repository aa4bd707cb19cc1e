package kvsuite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/attest/engine"
	_ "github.com/clstr-dev/clstr/challenges" // the built-in kv-store, which this package replaces
	"github.com/clstr-dev/clstr/internal/testkit/testenv"
	"github.com/clstr-dev/clstr/registry"
)

// kvBinary is examples/kv built once for the test process.
var kvBinary struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kvBinary.path != "" {
		os.RemoveAll(filepath.Dir(kvBinary.path))
	}
	os.Exit(code)
}

// kvRuntime builds examples/kv and returns a Docker runtime that runs it
// with env, or skips the test without a daemon (fails it in CI).
func kvRuntime(t *testing.T, env map[string]string) *docker.Runtime {
	t.Helper()
	testenv.Docker(t)
	kvBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "kvsuite-")
		if err != nil {
			kvBinary.err = err
			return
		}
		kvBinary.path = filepath.Join(dir, "kv")
		build := exec.Command("go", "build", "-trimpath", "-o", kvBinary.path, "github.com/clstr-dev/clstr/examples/kv")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			kvBinary.err = fmt.Errorf("build examples/kv: %v\n%s", err, out)
		}
	})
	if kvBinary.err != nil {
		t.Fatal(kvBinary.err)
	}
	rt, err := docker.New(context.Background(), docker.Options{Binary: kvBinary.path, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// TestRegisteredOverBuiltin checks that registering under the key of a
// built-in challenge, as the original walkthrough does, replaces it with a
// note and no panic.
func TestRegisteredOverBuiltin(t *testing.T) {
	c, ok := registry.Lookup("kv-store")
	if !ok || c.Name != "Distributed Key-Value Store (Go suite)" || len(c.Stages) != 3 {
		t.Fatalf("kv-store is %+v, want this package's challenge", c)
	}
	if err := registry.Default.Err(); err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(registry.Default.Notes(), "\n")
	if !strings.Contains(notes, `challenge "kv-store" (Distributed Key-Value Store (Go suite)) replaces the built-in challenge "kv-store"`) {
		t.Errorf("Notes() = %q", notes)
	}
}

// TestStagesPassOnExampleKV runs every stage of this suite on containers
// of the correct examples/kv.
func TestStagesPassOnExampleKV(t *testing.T) {
	rt := kvRuntime(t, nil)
	c, _ := registry.Lookup("kv-store")
	for _, stage := range c.Stages {
		t.Run(stage.Key, func(t *testing.T) {
			s, err := stage.Suite()
			if err != nil {
				t.Fatal(err)
			}
			res := s.Run(context.Background(), engine.RunOptions{Runtime: rt})
			if !res.Passed() {
				t.Fatalf("%s failed: %v", stage.Title, res.FirstError())
			}
		})
	}
	t.Run("no leader", func(t *testing.T) { testNoLeaderIsTheTargets(t, rt) })
}

// TestCatchesOctetStream runs the http-api stage against examples/kv with
// its planted bug octet-stream: the stage must fail, as the target's
// fault, at the test that checks the Content-Type.
func TestCatchesOctetStream(t *testing.T) {
	rt := kvRuntime(t, map[string]string{"KV_BUG": "octet-stream"})
	res := HTTPAPI().Run(context.Background(), engine.RunOptions{Runtime: rt})
	if v := res.Verdict(); v != engine.VerdictFail {
		t.Fatalf("verdict %v (%v), want fail", v, res.FirstError())
	}
	for _, tr := range res.Tests {
		if tr.Status == engine.TestFailed && tr.Name != "Values Come Back Exactly, as Plain Text" {
			t.Errorf("failed at %q, want the Content-Type test", tr.Name)
		}
	}
	if msg := res.FirstError().Error(); !strings.Contains(msg, `expected header Content-Type matches`) ||
		!strings.Contains(msg, `got "application/octet-stream"`) {
		t.Errorf("failure: %s", msg)
	}
}

// testNoLeaderIsTheTargets runs the reference's own pattern — find the
// leader, then select every other node — against a target that has no
// leader: the target fails (exit 1), clstr does not give up (exit 2).
func testNoLeaderIsTheTargets(t *testing.T, rt *docker.Runtime) {
	findLeader := func(do *Do) (string, string) {
		for _, name := range do.Nodes() {
			r := do.Fetch(name, "/cluster/info")
			if r != nil && r.JSON("role") == "leader" {
				return name, r.JSON("term")
			}
		}
		return "", ""
	}
	res := New(WithCluster(1), WithNodeStartupTimeout(20*time.Second)).
		Test("Followers Follow", func(do *Do) {
			leaderNode, _ := findLeader(do)
			do.GET(do.ExceptNodes(leaderNode), "/cluster/info").
				JSON("role", Is("follower")).
				Run()
		}).Run(context.Background(), engine.RunOptions{Runtime: rt})
	if v := res.Verdict(); v != engine.VerdictFail {
		t.Fatalf("verdict %v (%v), want fail", v, res.FirstError())
	}
	if msg := res.FirstError().Error(); !strings.Contains(msg, `no node named ""`) {
		t.Errorf("failure: %s", msg)
	}
}
