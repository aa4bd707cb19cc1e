package attest_test

// This file is written the way the original attest reference writes
// suites and challenges — dot-imported attest, numbered tests, hints —
// with only the import paths changed. It must keep compiling unchanged;
// its kv-store stages also run against attesttest.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/registry"
)

func HTTPAPI() *Suite {
	return New(WithCluster(1)).
		// 1
		Test("PUT Stores Values", func(do *Do) {
			do.PUT(Node("n1"), "/kv/key", "value").
				Status(Is(200)).
				Hint("Check that your HTTP handler registers PUT /kv/{key} and returns 200.").
				Run()
		}).
		// 2
		Test("GET Returns Stored Values", func(do *Do) {
			do.GET(Node("n1"), "/kv/key").
				Status(Is(200)).
				Body(Is("value")).
				Hint("GET /kv/{key} should return the value stored by the preceding PUT.").
				Run()
		}).
		// 3
		Test("GET Missing Key Returns 404", func(do *Do) {
			do.GET(Node("n1"), "/kv/missing").
				Status(Is(404)).
				Body(Matches("^key not found\n?$")).
				Hint("Return 'key not found' for missing keys.").
				Run()
		}).
		// 4
		Test("PUT Rejects Empty Keys", func(do *Do) {
			do.PUT(Node("n1"), "/kv/", "value").
				Status(Is(400)).
				Body(Matches("^key cannot be empty\n?$")).
				Hint("Your server should reject empty keys.\n" +
					"Add validation to return 400 Bad Request for empty keys.").
				Run()
		}).
		// 5
		Test("Concurrent Writes", func(do *Do) {
			do.Concurrently(100, func(i int) {
				do.PUT(Node("n1"), fmt.Sprintf("/kv/key%d", i), fmt.Sprintf("value%d", i)).
					Status(Is(200)).
					Hint("Your server should handle concurrent PUT requests.").
					Run()
			})
			do.GET(Node("n1"), "/kv/key42").
				Status(Is(200), Not(Is(404))).
				Body(OneOf("value42"), Not(Contains("panic"))).
				Run()
		}).
		// 6
		Test("JSON Headers", func(do *Do) {
			do.POST(Node("n1"), "/kv/json", `{"key":"value"}`, H{"Content-Type": "application/json"}).
				Status(Not(Is(500))).
				Run()
		})
}

func Persistence() *Suite {
	return New(WithCluster(1), WithNodeStartTimeout(30*time.Second), WithNodeShutdownTimeout(15*time.Second)).
		// 1
		Test("Data Survives SIGTERM", func(do *Do) {
			do.PUT(Node("n1"), "/kv/durable", "yes").Status(Is(200)).Run()
			do.Restart("n1")
			do.GET(Node("n1"), "/kv/durable").
				Status(Is(200)).
				Body(Is("yes")).
				Hint("Write to DATA_DIR before you answer.").
				Run()
		})
}

func CrashRecovery() *Suite {
	return New(WithCluster(1), WithRetryTimeout(10*time.Second), WithRequestTimeout(2*time.Second)).
		// 1
		Test("Data Survives SIGKILL", func(do *Do) {
			do.PUT(Node("n1"), "/kv/crash", "safe").Status(Is(200)).Run()
			do.Restart("n1", syscall.SIGKILL)
			do.GET(Node("n1"), "/kv/crash").
				Eventually().
				Status(Is(200)).
				Body(Is("safe")).
				Hint("fsync before you answer.").
				Run()
		}).
		// 2
		Test("Stop, Kill and Start", func(do *Do) {
			do.Stop("n1")
			do.Start("n1")
			do.Kill("n1")
			do.Start("n1")
			do.GET(Node("n1"), "/kv/crash").Consistently(200 * time.Millisecond).Body(Is("safe")).Run()
		})
}

func findLeader(do *Do) (string, string) {
	for _, name := range do.Nodes() {
		r := do.Fetch(name, "/cluster/info")
		if r != nil && r.JSON("role") == "leader" {
			return name, r.JSON("term")
		}
	}
	panic("no leader")
}

// LeaderElection only has to compile: attesttest nodes run no Raft.
func LeaderElection() *Suite {
	return New(WithCluster(5), WithRetryTimeout(10*time.Second)).
		// 1
		Test("Cluster Elects a Leader", func(do *Do) {
			do.GET(do.AtLeastOneNode(), "/cluster/info").
				Eventually(2*time.Second).
				JSON("role", Is("leader")).
				Run()
			do.GET(do.ExactlyOneNode(), "/cluster/info").
				Consistently(2*time.Second).
				JSON("role", Is("leader")).
				Run()
			do.GET(do.AllNodes(), "/cluster/info").
				Eventually(2*time.Second).
				JSON("term", GreaterThan("0")).
				JSON("peers", HasLen[string](4)).
				JSON("entries.0.term", Is("1")).
				Run()
		}).
		// 2
		Test("Followers Redirect", func(do *Do) {
			leaderNode, _ := findLeader(do)
			do.GET(do.ExceptNodes(leaderNode), "/cluster/info").
				JSON("role", Is("follower")).
				Run()
			do.PUT(Node(do.Names(do.ExceptNodes(leaderNode))[0]), "/kv/foo", "value").
				Status(Is(307)).
				Header("Location", Matches(`^http://10\.0\.42\.\d+:\d+/kv/foo$`)).
				Hint("Followers should redirect writes to the leader.").
				Run()
		}).
		// 3
		Test("New Leader After Crash", func(do *Do) {
			leaderNode, term := findLeader(do)
			do.Kill(leaderNode)
			do.GET(do.ExactlyOneNode(do.Names(do.ExceptNodes(leaderNode))...), "/cluster/info").
				Eventually(3*time.Second).
				JSON("role", Is("leader")).
				JSON("term", GreaterThan(term)).
				Run()
			do.Start(leaderNode)
		}).
		// 4
		Test("Minority Partition", func(do *Do) {
			do.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
			do.GET(do.AllNodes("n1", "n2"), "/cluster/info").
				Consistently(2*time.Second).
				JSON("leader", IsNull[string]()).
				Hint("Minority partition should not elect a leader.").
				Run()
			do.Heal()
		}).
		// 5
		Test("Impairments", func(do *Do) {
			leaderNode, _ := findLeader(do)
			do.Impair(do.AllNodes(), Delay(100*time.Millisecond, 20*time.Millisecond))
			do.Impair(Node("n1"), Delay(50*time.Millisecond), Loss(10), Duplicate(1), Reorder(25))
			do.Impair(do.ExceptNodes(leaderNode), Loss(20))
			do.Repair(Node("n1"))
			do.Repair(do.ExceptNodes(leaderNode))
			do.Repair()
		})
}

func init() {
	challenge := &registry.Challenge{
		Name:    "Distributed Key-Value Store",
		Summary: `Build a distributed key-value store from scratch.`,
	}

	challenge.AddStage("http-api", "Store and Retrieve Data", HTTPAPI)
	challenge.AddStage("persistence", "Data Survives SIGTERM", Persistence)
	challenge.AddStage("crash-recovery", "Data Survives SIGKILL", CrashRecovery)
	challenge.AddStage("leader-election", "Cluster Elects and Maintains Leader", LeaderElection)

	registry.RegisterChallenge("kv-store", challenge)
}

// kvStore is a node program as the kv-store stages expect one: its data
// lives outside the handler, so it survives restarts like DATA_DIR does.
func kvStore() *attesttest.Runtime {
	var mu sync.Mutex
	data := map[string]string{}
	return attesttest.New(func(n *attesttest.Node) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
		mux.HandleFunc("/kv/{key...}", func(w http.ResponseWriter, r *http.Request) {
			key := r.PathValue("key")
			if key == "" {
				http.Error(w, "key cannot be empty", http.StatusBadRequest)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch r.Method {
			case http.MethodPut, http.MethodPost:
				b, _ := io.ReadAll(r.Body)
				if len(b) == 0 {
					http.Error(w, "value cannot be empty", http.StatusBadRequest)
					return
				}
				data[key] = string(b)
			case http.MethodGet:
				v, ok := data[key]
				if !ok {
					http.Error(w, "key not found", http.StatusNotFound)
					return
				}
				io.WriteString(w, v)
			case http.MethodDelete:
				delete(data, key)
			default:
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			}
		})
		return mux
	})
}

func TestSeedStyleKVStore(t *testing.T) {
	c, ok := registry.Lookup("kv-store")
	if !ok {
		t.Fatal("kv-store is not registered")
	}
	for _, stage := range c.Stages {
		if stage.Key == "leader-election" {
			continue // needs Raft nodes
		}
		t.Run(stage.Key, func(t *testing.T) {
			s, err := stage.Suite()
			if err != nil {
				t.Fatal(err)
			}
			rt := kvStore()
			res := s.Run(context.Background(), engine.RunOptions{Runtime: rt})
			if !res.Passed() {
				t.Fatalf("%s failed: %v", stage.Title, res.FirstError())
			}
			if rt.Last().Closes() != 1 {
				t.Errorf("cluster closed %d times", rt.Last().Closes())
			}
		})
	}
}

// TestSeedStyleCatchesABug plants a bug — the store forgets everything on
// a restart — and expects the persistence stage to fail where it should.
func TestSeedStyleCatchesABug(t *testing.T) {
	rt := attesttest.New(func(n *attesttest.Node) http.Handler {
		data := map[string]string{} // lost on restart: the bug
		var mu sync.Mutex
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			key := strings.TrimPrefix(r.URL.Path, "/kv/")
			switch {
			case r.URL.Path == "/health":
			case r.Method == http.MethodPut:
				b, _ := io.ReadAll(r.Body)
				data[key] = string(b)
			default:
				v, ok := data[key]
				if !ok {
					http.Error(w, "key not found", http.StatusNotFound)
					return
				}
				io.WriteString(w, v)
			}
		})
	})
	res := Persistence().Run(context.Background(), engine.RunOptions{Runtime: rt})
	f := failure(t, res)
	contains(t, "failure", f.Error(), "seedcompat_test.go:", "GET /kv/durable on n1: expected status is 200, got 404")
	if f.Hint != "Write to DATA_DIR before you answer." {
		t.Errorf("Hint = %q", f.Hint)
	}
}
