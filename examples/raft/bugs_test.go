//go:build !windows

// Signals such as SIGSTOP exist only on Unix.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"time"

	"github.com/clstr-dev/clstr/internal/testkit/testenv"
)

// TestPlantedBugs runs, for each planted bug, a check of the contract that
// the bug breaks: the check must pass on a correct cluster and fail with
// RAFT_BUG set on every node, so each bug is observable from outside.
func TestPlantedBugs(t *testing.T) {
	testenv.Long(t, "it runs every planted bug through its cluster test")
	tests := []struct {
		bug   string
		check func(c *cluster) error
	}{
		{bugTwoLeaders, func(c *cluster) error {
			// Never two leaders at once, from the first election on.
			return consistently(4*time.Second, func() error {
				var leaders []string
				for i := range c.nodes {
					info, err := c.info(i)
					if err != nil {
						return err
					}
					if info.Role == "leader" {
						leaders = append(leaders, fmt.Sprintf("%s (term %d)", info.ID, info.Term))
					}
				}
				if len(leaders) > 1 {
					return fmt.Errorf("%d leaders at once: %s", len(leaders), strings.Join(leaders, ", "))
				}
				return nil
			})
		}},
		{bugNoRedirect, func(c *cluster) error {
			l, info := c.waitLeader(5 * time.Second)
			status, _, header, err := c.do(c.followers(l)[0], "GET", "/kv/k", "")
			if err != nil {
				return err
			}
			if want := "http://" + info.ID + "/kv/k"; status != 307 || header.Get("Location") != want {
				return fmt.Errorf("GET /kv/k on a follower: %d Location %q; want 307 Location %q", status, header.Get("Location"), want)
			}
			return nil
		}},
		{bugMinorityLeader, func(c *cluster) error {
			// Kill the leader and two followers: the two left must not
			// elect a leader.
			l, _ := c.waitLeader(5 * time.Second)
			c.stop(l, syscall.SIGKILL)
			for _, i := range c.followers(l)[:2] {
				c.stop(i, syscall.SIGKILL)
			}
			return consistently(4*time.Second, func() error {
				for _, i := range c.followers(-1) {
					info, err := c.info(i)
					if err != nil {
						return err
					}
					if info.Role == "leader" {
						return fmt.Errorf("%s became leader of term %d with 2 of 5 nodes up", info.ID, info.Term)
					}
				}
				return nil
			})
		}},
		{bugIgnoreDelayed, func(c *cluster) error {
			// Kill every follower: the leader hears from nobody and must
			// step down.
			l, _ := c.waitLeader(5 * time.Second)
			for _, i := range c.followers(l) {
				c.stop(i, syscall.SIGKILL)
			}
			return eventually(4*time.Second, func() error {
				info, err := c.info(l)
				if err == nil && info.Role == "leader" {
					err = fmt.Errorf("%s still claims leadership of term %d with every other node down", info.ID, info.Term)
				}
				return err
			})
		}},
		{bugAckBeforeCommit, func(c *cluster) error {
			// With three of five nodes down a write cannot commit, so it
			// must not be acknowledged.
			l, _ := c.waitLeader(5 * time.Second)
			for _, i := range c.followers(l)[:3] {
				c.stop(i, syscall.SIGKILL)
			}
			status, body, _, err := c.do(l, "PUT", "/kv/k", "v")
			if err != nil {
				return err
			}
			if status == 200 {
				return fmt.Errorf("PUT /kv/k answered 200 with 3 of 5 nodes down, where no majority can commit it")
			}
			if status != 503 && status != 307 {
				return fmt.Errorf("PUT /kv/k answered %d %q with 3 of 5 nodes down; want 503 (or 307)", status, body)
			}
			return nil
		}},
		{bugLeaseReads, func(c *cluster) error {
			// With every follower down, the leader cannot confirm that it
			// still leads, so a read must not be answered 200.
			l, _ := c.waitLeader(5 * time.Second)
			if status, _, _, err := c.do(l, "PUT", "/kv/k", "v"); err != nil || status != 200 {
				return fmt.Errorf("PUT /kv/k on the leader: %d %v", status, err)
			}
			for _, i := range c.followers(l) {
				c.stop(i, syscall.SIGKILL)
			}
			status, body, _, err := c.do(l, "GET", "/kv/k", "")
			if err != nil {
				return err
			}
			if status == 200 {
				return fmt.Errorf("GET /kv/k answered 200 %q with every other node down: the leader did not confirm it still leads", body)
			}
			return nil
		}},
		{bugRevote, func(c *cluster) error {
			// A follower of the leader asked for its vote by two late
			// candidates of its own term grants at most one of them.
			l, _ := c.waitLeader(5 * time.Second)
			f := c.followers(l)[0]
			info, err := c.info(f)
			if err != nil {
				return err
			}
			var granted []string
			for _, candidate := range []string{"10.0.0.1:1", "10.0.0.2:1"} {
				req, _ := json.Marshal(voteRequest{Term: info.Term, CandidateID: candidate, LastLogIndex: 1 << 40, LastLogTerm: 1 << 40})
				status, body, _, err := c.do(f, "POST", pathRequestVote, string(req))
				if err != nil || status != 200 {
					return fmt.Errorf("POST %s on %s: %d %q %v", pathRequestVote, info.ID, status, body, err)
				}
				var resp voteResponse
				if err := json.Unmarshal([]byte(body), &resp); err != nil {
					return fmt.Errorf("POST %s on %s: %q: %v", pathRequestVote, info.ID, body, err)
				}
				if resp.VoteGranted {
					granted = append(granted, candidate)
				}
			}
			if len(granted) > 1 {
				return fmt.Errorf("%s granted its vote in term %d to %s", info.ID, info.Term, strings.Join(granted, " and "))
			}
			return nil
		}},
		{bugTickLease, func(c *cluster) error {
			// Freeze the leader (SIGSTOP) longer than an election
			// timeout; the others elect a new leader, which acknowledges a
			// write. A read sent to the old leader after that must not
			// return what was there before once it is thawed.
			l, _ := c.waitLeader(5 * time.Second)
			if err := c.expect(l, "PUT", "/kv/k", "old", 200, nil); err != nil {
				return err
			}
			old := c.nodes[l].cmd.Process
			if err := old.Signal(syscall.SIGSTOP); err != nil {
				return err
			}
			defer old.Signal(syscall.SIGCONT)
			err := eventually(8*time.Second, func() error {
				for _, i := range c.followers(l) {
					if info, err := c.info(i); err == nil && info.Role == "leader" {
						return c.expect(i, "PUT", "/kv/k", "new", 200, nil)
					}
				}
				return fmt.Errorf("no new leader while the old one is stopped")
			})
			if err != nil {
				return err
			}
			type answer struct {
				status int
				body   string
				err    error
			}
			got := make(chan answer, 1)
			go func() {
				status, body, _, err := c.do(l, "GET", "/kv/k", "")
				got <- answer{status, body, err}
			}()
			time.Sleep(200 * time.Millisecond) // the read waits in the frozen node's socket
			if err := old.Signal(syscall.SIGCONT); err != nil {
				return err
			}
			if a := <-got; a.err == nil && a.status == 200 && a.body != "new" {
				return fmt.Errorf("the old leader, thawed, answered a read sent after the new leader acknowledged \"new\" with 200 %q", a.body)
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.bug, func(t *testing.T) {
			if err := tc.check(startCluster(t, 5)); err != nil {
				t.Fatalf("the correct cluster fails the check: %v", err)
			}
			err := tc.check(startCluster(t, 5, "RAFT_BUG="+tc.bug))
			if err == nil {
				t.Fatalf("RAFT_BUG=%s passes the check; the bug is not observable", tc.bug)
			}
			t.Logf("RAFT_BUG=%s observed: %v", tc.bug, err)
		})
	}
}

func TestUnknownBugRefusesToStart(t *testing.T) {
	cmd := exec.Command(nodeBinary)
	cmd.Env = append(os.Environ(), "ADDR="+freeAddr(t), "DATA_DIR="+t.TempDir(), "RAFT_BUG=no-such-bug")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("raft node started with RAFT_BUG=no-such-bug; output:\n%s", out)
	}
	if !strings.Contains(string(out), `unknown RAFT_BUG "no-such-bug"`) {
		t.Errorf("output does not name the unknown bug:\n%s", out)
	}
}
