package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestElectionAndReplication(t *testing.T) {
	c := startCluster(t, 5)
	l, info := c.waitLeader(5 * time.Second)
	if info.Term < 1 {
		t.Errorf("leader %s reports term %d; a leader's term is at least 1", info.ID, info.Term)
	}

	t.Run("cluster info shape", func(t *testing.T) {
		for i, n := range c.nodes {
			info, err := c.info(i)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, m := range c.nodes {
				if m != n {
					want = append(want, m.addr)
				}
			}
			slices.Sort(want)
			if info.ID != n.addr || !slices.Equal(info.Peers, want) {
				t.Errorf("node %s: id %q, peers %v; want id %q, peers %v", n.addr, info.ID, info.Peers, n.addr, want)
			}
			if !slices.Contains([]string{"leader", "follower", "candidate"}, info.Role) {
				t.Errorf("node %s: role %q", n.addr, info.Role)
			}
		}
	})

	t.Run("leader is stable under heartbeats", func(t *testing.T) {
		err := consistently(1500*time.Millisecond, func() error {
			i, now, err := c.agreedLeader()
			if err == nil && (i != l || now.Term != info.Term) {
				err = fmt.Errorf("leader changed from %s (term %d) to %s (term %d)", info.ID, info.Term, now.ID, now.Term)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("followers redirect", func(t *testing.T) {
		for _, f := range c.followers(l) {
			for _, req := range []struct{ method, path, body string }{
				{"GET", "/kv/some-key", ""},
				{"PUT", "/kv/some-key", "v"},
				{"DELETE", "/kv/some-key", ""},
				{"DELETE", "/clear", ""},
			} {
				status, _, header, err := c.do(f, req.method, req.path, req.body)
				if err != nil {
					t.Fatal(err)
				}
				want := "http://" + info.ID + req.path
				if status != http.StatusTemporaryRedirect || header.Get("Location") != want {
					t.Errorf("%s %s on follower %s: %d Location %q; want 307 Location %q",
						req.method, req.path, c.nodes[f].addr, status, header.Get("Location"), want)
				}
			}
		}
	})

	t.Run("leader serves the kv contract", func(t *testing.T) {
		tests := []struct {
			name       string
			method     string
			path       string
			body       string
			wantStatus int
			wantBody   *string
		}{
			{"missing", "GET", "/kv/k", "", 404, ptr("key not found")},
			{"put", "PUT", "/kv/k", "hello world", 200, nil},
			{"get", "GET", "/kv/k", "", 200, ptr("hello world")},
			{"case-sensitive", "GET", "/kv/K", "", 404, ptr("key not found")},
			{"unicode", "PUT", "/kv/u", "héllo\twörld 😊", 200, nil},
			{"get unicode", "GET", "/kv/u", "", 200, ptr("héllo\twörld 😊")},
			{"empty value", "PUT", "/kv/k", "", 400, ptr("value cannot be empty")},
			{"empty key", "PUT", "/kv/", "v", 400, ptr("key cannot be empty")},
			{"post", "POST", "/kv/k", "v", 405, ptr("method not allowed")},
			{"get clear", "GET", "/clear", "", 405, ptr("method not allowed")},
			{"delete", "DELETE", "/kv/k", "", 200, nil},
			{"deleted", "GET", "/kv/k", "", 404, ptr("key not found")},
			{"delete missing", "DELETE", "/kv/k", "", 200, nil},
			{"clear", "DELETE", "/clear", "", 200, nil},
			{"cleared", "GET", "/kv/u", "", 404, ptr("key not found")},
		}
		for _, tc := range tests {
			if err := c.expect(l, tc.method, tc.path, tc.body, tc.wantStatus, tc.wantBody); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	})

	t.Run("writes replicate to every log", func(t *testing.T) {
		if err := c.expect(l, "PUT", "/kv/replicated", "a value with spaces", 200, nil); err != nil {
			t.Fatal(err)
		}
		leaderLog, err := c.log(l)
		if err != nil {
			t.Fatal(err)
		}
		last := leaderLog.Entries[len(leaderLog.Entries)-1]
		if last.Command != "PUT replicated a value with spaces" || last.Term != info.Term {
			t.Fatalf("last entry of the leader's log is %+v; want the PUT in term %d", last, info.Term)
		}
		if leaderLog.CommitIndex < last.Index || leaderLog.LastApplied < last.Index {
			t.Errorf("leader acknowledged the write but its commit-index %d / last-applied %d is below its index %d",
				leaderLog.CommitIndex, leaderLog.LastApplied, last.Index)
		}
		for i := range c.nodes {
			err := eventually(3*time.Second, func() error {
				v, err := c.log(i)
				if err != nil {
					return err
				}
				if !slices.Equal(v.Entries, leaderLog.Entries) {
					return fmt.Errorf("log %v differs from the leader's %v", v.Entries, leaderLog.Entries)
				}
				if v.CommitIndex < last.Index || v.LastApplied < last.Index {
					return fmt.Errorf("commit-index %d, last-applied %d; want at least %d", v.CommitIndex, v.LastApplied, last.Index)
				}
				return nil
			})
			if err != nil {
				t.Errorf("node %s: %v", c.nodes[i].addr, err)
			}
		}
	})
}

func TestReadYourWrites(t *testing.T) {
	c := startCluster(t, 5)
	l, _ := c.waitLeader(5 * time.Second)
	// Concurrent clients, each writing its own key over and over: every
	// read right after an acknowledged write returns that write.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 15 {
				key, value := fmt.Sprintf("/kv/client-%d", w), fmt.Sprintf("write %d", i)
				if err := c.expect(l, "PUT", key, value, 200, nil); err != nil {
					errs <- err
					return
				}
				if err := c.expect(l, "GET", key, "", 200, &value); err != nil {
					errs <- fmt.Errorf("read after an acknowledged write: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLeaderFailover(t *testing.T) {
	c := startCluster(t, 5)
	old, oldInfo := c.waitLeader(5 * time.Second)
	if err := c.expect(old, "PUT", "/kv/before", "v1", 200, nil); err != nil {
		t.Fatal(err)
	}

	c.stop(old, syscall.SIGKILL)
	l, info := c.waitLeader(5 * time.Second)
	if info.Term <= oldInfo.Term {
		t.Errorf("new leader %s has term %d, not above the old leader's %d", info.ID, info.Term, oldInfo.Term)
	}
	if err := c.expect(l, "GET", "/kv/before", "", 200, ptr("v1")); err != nil {
		t.Fatalf("a write acknowledged by the killed leader is lost: %v", err)
	}
	if err := c.expect(l, "PUT", "/kv/after", "v2", 200, nil); err != nil {
		t.Fatal(err)
	}

	c.start(old)
	err := eventually(5*time.Second, func() error {
		got, err := c.info(old)
		if err != nil {
			return err
		}
		if got.Role != "follower" || got.Leader == nil || *got.Leader != info.ID {
			return fmt.Errorf("restarted old leader reports %+v; want a follower of %s", got, info.ID)
		}
		return caughtUp(c, old, "PUT after v2")
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRestartedFollowerCatchesUp(t *testing.T) {
	c := startCluster(t, 5)
	l, _ := c.waitLeader(5 * time.Second)
	f := c.followers(l)[0]
	c.stop(f, syscall.SIGTERM)
	for i := range 20 {
		if err := c.expect(l, "PUT", fmt.Sprintf("/kv/while-down-%d", i), "v", 200, nil); err != nil {
			t.Fatal(err)
		}
	}
	c.start(f)
	if err := eventually(5*time.Second, func() error { return caughtUp(c, f, "PUT while-down-19 v") }); err != nil {
		t.Fatal(err)
	}
}

// caughtUp checks that node i's log holds an entry with command and has
// applied it.
func caughtUp(c *cluster, i int, command string) error {
	v, err := c.log(i)
	if err != nil {
		return err
	}
	at := slices.IndexFunc(v.Entries, func(e logEntry) bool { return e.Command == command })
	if at < 0 {
		return fmt.Errorf("node %s's log has no %q", c.nodes[i].addr, command)
	}
	if v.LastApplied < v.Entries[at].Index {
		return fmt.Errorf("node %s has %q at %d but applied only up to %d", c.nodes[i].addr, command, v.Entries[at].Index, v.LastApplied)
	}
	return nil
}

func TestMinorityHasNoLeader(t *testing.T) {
	c := startCluster(t, 5)
	l, _ := c.waitLeader(5 * time.Second)
	if err := c.expect(l, "PUT", "/kv/k", "v", 200, nil); err != nil {
		t.Fatal(err)
	}
	// Leave the leader with one follower: a minority of two.
	down := c.followers(l)[:3]
	for _, i := range down {
		c.stop(i, syscall.SIGKILL)
	}
	// The leader steps down, and both nodes give up on it.
	err := eventually(4*time.Second, func() error {
		for _, i := range c.followers(-1) {
			info, err := c.info(i)
			if err != nil {
				return err
			}
			if info.Role == "leader" || info.Leader != nil {
				return fmt.Errorf("node %s, cut off from the majority, still reports %+v", info.ID, info)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = consistently(2*time.Second, func() error {
		for _, i := range c.followers(-1) {
			info, err := c.info(i)
			if err != nil {
				return err
			}
			if info.Role == "leader" {
				return fmt.Errorf("node %s became leader of term %d with only 2 of 5 nodes up", info.ID, info.Term)
			}
			if err := c.expect(i, "GET", "/kv/k", "", 503, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, i := range down {
		c.start(i)
	}
	l, _ = c.waitLeader(5 * time.Second)
	if err := c.expect(l, "GET", "/kv/k", "", 200, ptr("v")); err != nil {
		t.Fatal(err)
	}
}

func TestSingleNode(t *testing.T) {
	c := startCluster(t, 1)
	l, info := c.waitLeader(5 * time.Second)
	if len(info.Peers) != 0 || info.Peers == nil {
		t.Errorf("peers of a single node: %#v, want []", info.Peers)
	}
	if err := c.expect(l, "PUT", "/kv/k", "v", 200, nil); err != nil {
		t.Fatal(err)
	}
	c.stop(l, syscall.SIGKILL)
	c.start(l)
	l, _ = c.waitLeader(5 * time.Second)
	if err := c.expect(l, "GET", "/kv/k", "", 200, ptr("v")); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(Config) error
	}{
		{
			name: "defaults",
			env:  map[string]string{"ADDR": "10.0.42.101:8080"},
			check: func(c Config) error {
				if c.ElectionTimeoutMin != 500*time.Millisecond || c.ElectionTimeoutMax != time.Second ||
					c.HeartbeatInterval != 100*time.Millisecond || c.RPCTimeout != 300*time.Millisecond || len(c.Peers) != 0 {
					return fmt.Errorf("%+v", c)
				}
				return nil
			},
		},
		{
			name: "peers are sorted, deduplicated and exclude ADDR",
			env:  map[string]string{"ADDR": "10.0.42.101:8080", "PEERS": "10.0.42.103:8080, 10.0.42.102:8080,10.0.42.101:8080,10.0.42.102:8080,"},
			check: func(c Config) error {
				if want := []string{"10.0.42.102:8080", "10.0.42.103:8080"}; !slices.Equal(c.Peers, want) {
					return fmt.Errorf("peers %v, want %v", c.Peers, want)
				}
				return nil
			},
		},
		{
			name: "timeouts",
			env:  map[string]string{"RAFT_ELECTION_TIMEOUT_MIN": "150ms", "RAFT_ELECTION_TIMEOUT_MAX": "300ms", "RAFT_HEARTBEAT_INTERVAL": "30ms", "RAFT_RPC_TIMEOUT": "100ms"},
			check: func(c Config) error {
				if c.ElectionTimeoutMin != 150*time.Millisecond || c.ElectionTimeoutMax != 300*time.Millisecond ||
					c.HeartbeatInterval != 30*time.Millisecond || c.RPCTimeout != 100*time.Millisecond {
					return fmt.Errorf("%+v", c)
				}
				return nil
			},
		},
		{name: "unknown bug", env: map[string]string{"RAFT_BUG": "nope"}, wantErr: `unknown RAFT_BUG "nope"`},
		{name: "bad ADDR", env: map[string]string{"ADDR": "n1"}, wantErr: "ADDR"},
		{name: "bad peer", env: map[string]string{"PEERS": "n2"}, wantErr: "PEERS"},
		{name: "bad duration", env: map[string]string{"RAFT_HEARTBEAT_INTERVAL": "fast"}, wantErr: "RAFT_HEARTBEAT_INTERVAL"},
		{name: "max below min", env: map[string]string{"RAFT_ELECTION_TIMEOUT_MAX": "400ms"}, wantErr: "RAFT_ELECTION_TIMEOUT_MAX"},
		{name: "heartbeat too slow", env: map[string]string{"RAFT_HEARTBEAT_INTERVAL": "600ms"}, wantErr: "RAFT_HEARTBEAT_INTERVAL"},
		{name: "rpc timeout too long", env: map[string]string{"RAFT_RPC_TIMEOUT": "2s"}, wantErr: "RAFT_RPC_TIMEOUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(cfg); err != nil {
				t.Error(err)
			}
		})
	}
}
