package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"time"

	"github.com/clstr-dev/clstr/internal/testkit/testenv"
)

// leaderAmong waits until exactly one of the nodes says it leads and
// returns it.
func (c *cluster) leaderAmong(nodes []int, timeout time.Duration) (int, clusterInfo, error) {
	l, info := -1, clusterInfo{}
	err := eventually(timeout, func() error {
		l = -1
		for _, i := range nodes {
			got, err := c.info(i)
			if err != nil {
				return err
			}
			if got.Role == "leader" {
				if l >= 0 {
					return fmt.Errorf("%s and %s both lead", c.nodes[l].addr, got.ID)
				}
				l, info = i, got
			}
		}
		if l < 0 {
			return fmt.Errorf("none of %v leads", nodes)
		}
		return nil
	})
	return l, info, err
}

func (c *cluster) addrs(nodes ...int) []string {
	var out []string
	for _, i := range nodes {
		out = append(out, c.nodes[i].addr)
	}
	slices.Sort(out)
	return out
}

// membersAre checks node i's configuration.
func (c *cluster) membersAre(i int, want []string) error {
	info, err := c.info(i)
	if err != nil {
		return err
	}
	if !slices.Equal(info.Members, want) || info.OldMembers != nil {
		return fmt.Errorf("%s has members %v (old %v), want %v", info.ID, info.Members, info.OldMembers, want)
	}
	return nil
}

// membershipScenario adds a spare node, removes a follower, then the
// leader, one at a time. Its error starts with the step that failed:
// "add:", "remove:", "disrupt:" or "leader:".
func membershipScenario(c *cluster) error {
	members := []int{0, 1, 2}
	l, _, err := c.leaderAmong(members, 5*time.Second)
	if err != nil {
		return err
	}
	for i := range 300 {
		if err := c.expect(l, "PUT", fmt.Sprintf("/kv/k%d", i), "v", 200, nil); err != nil {
			return err
		}
	}
	lv, err := c.log(l)
	if err != nil {
		return err
	}
	c.start(3)
	if info, err := c.info(3); err != nil || info.Role == "leader" || info.Term != 0 {
		return fmt.Errorf("add: the node outside the cluster reports %+v, %v", info, err)
	}
	if err := c.expect(l, "POST", "/cluster/members", c.nodes[3].addr, 200, nil); err != nil {
		return fmt.Errorf("add: %w", err)
	}
	nv, err := c.log(3)
	if err != nil {
		return err
	}
	if nv.LastApplied < lv.CommitIndex {
		return fmt.Errorf("add: the new node had applied %d entries when its addition was answered; the leader had committed %d before", nv.LastApplied, lv.CommitIndex)
	}
	members = append(members, 3)
	for _, i := range members {
		if err := eventually(2*time.Second, func() error { return c.membersAre(i, c.addrs(members...)) }); err != nil {
			return fmt.Errorf("add: %w", err)
		}
	}

	f := slices.DeleteFunc(slices.Clone(members), func(i int) bool { return i == l })[0]
	if err := c.expect(l, "DELETE", "/cluster/members/"+c.nodes[f].addr, "", 200, nil); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	members = slices.DeleteFunc(members, func(i int) bool { return i == f })
	if err := c.membersAre(l, c.addrs(members...)); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	before, err := c.info(l)
	if err != nil {
		return err
	}
	err = consistently(3*time.Second, func() error {
		info, err := c.info(l)
		if err != nil {
			return err
		}
		if info.Role != "leader" || info.Term != before.Term {
			return fmt.Errorf("disrupt: with the removed %s still running, the leader went from term %d to %+v", c.nodes[f].addr, before.Term, info)
		}
		return nil
	})
	if err != nil {
		return err
	}

	if err := c.expect(l, "DELETE", "/cluster/members/"+c.nodes[l].addr, "", 200, nil); err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	rest := slices.DeleteFunc(slices.Clone(members), func(i int) bool { return i == l })
	err = eventually(3*time.Second, func() error {
		info, err := c.info(l)
		if err != nil {
			return err
		}
		if info.Role == "leader" {
			return fmt.Errorf("leader: the removed leader %s still leads", info.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	nl, _, err := c.leaderAmong(rest, 5*time.Second)
	if err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	if err := c.membersAre(nl, c.addrs(rest...)); err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	if err := eventually(3*time.Second, func() error { return c.expect(nl, "PUT", "/kv/after", "all", 200, nil) }); err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	return nil
}

func TestMembershipChanges(t *testing.T) {
	if err := membershipScenario(startClusterSpare(t, 3, 1)); err != nil {
		t.Fatal(err)
	}
}

func TestMembershipBugs(t *testing.T) {
	testenv.Long(t, "it runs every membership bug through its cluster test")
	for bug, step := range map[string]string{
		bugCountBeforeCaughtUp: "add:",
		bugRemovedDisrupts:     "disrupt:",
		bugLeaderStays:         "leader:",
	} {
		t.Run(bug, func(t *testing.T) {
			err := membershipScenario(startClusterSpare(t, 3, 1, "RAFT_BUG="+bug))
			if err == nil || !strings.HasPrefix(err.Error(), step) {
				t.Fatalf("RAFT_BUG=%s: the scenario ends with %v; want a failure at %q", bug, err, step)
			}
			t.Logf("RAFT_BUG=%s observed: %v", bug, err)
		})
	}
}

// jointScenario replaces two of three members at once. Its error starts
// with the step that failed: "joint:", "majorities:" or "finish:".
func jointScenario(c *cluster) error {
	l, _, err := c.leaderAmong([]int{0, 1, 2}, 5*time.Second)
	if err != nil {
		return err
	}
	if err := c.expect(l, "PUT", "/kv/before", "v", 200, nil); err != nil {
		return err
	}
	c.start(3)
	c.start(4)
	others := slices.DeleteFunc([]int{0, 1, 2}, func(i int) bool { return i == l })
	newMembers := c.addrs(l, 3, 4)
	body, _ := json.Marshal(newMembers)
	if err := c.expect(l, "PUT", "/cluster/members", string(body), 200, nil); err != nil {
		return fmt.Errorf("joint: %w", err)
	}
	v, err := c.log(l)
	if err != nil {
		return err
	}
	var joint, final bool
	for _, e := range v.Entries {
		joint = joint || strings.HasPrefix(e.Command, "JOINT ")
		final = final || (joint && e.Command == "CONFIG "+strings.Join(newMembers, ","))
	}
	if !joint || !final {
		return fmt.Errorf("joint: the leader's log has no JOINT entry followed by the new configuration: %+v", v.Entries)
	}
	if err := c.membersAre(l, newMembers); err != nil {
		return fmt.Errorf("joint: %w", err)
	}

	// Back to the old members, with the two new ones down: the
	// majority of the configuration it leaves is missing, so the change
	// must not commit, even though the configuration it goes to has a
	// majority.
	c.stop(3, syscall.SIGKILL)
	c.stop(4, syscall.SIGKILL)
	back, _ := json.Marshal(c.addrs(l, others[0], others[1]))
	status, answer, _, err := c.do(l, "PUT", "/cluster/members", string(back))
	if err == nil && status == 200 {
		return fmt.Errorf("majorities: going back to %s was answered 200 with two of the three current members down", back)
	}
	if err == nil && status != 503 && status != 307 {
		return fmt.Errorf("majorities: going back to %s answered %d %q; want 503", back, status, answer)
	}
	v, err = c.log(l)
	if err != nil {
		return err
	}
	if v.CommitIndex > v.Entries[len(v.Entries)-1].Index {
		return fmt.Errorf("majorities: impossible commit index %d", v.CommitIndex)
	}
	return nil
}

func TestJointConsensus(t *testing.T) {
	if err := jointScenario(startClusterSpare(t, 3, 2)); err != nil {
		t.Fatal(err)
	}
}

func TestJointBugs(t *testing.T) {
	for bug, step := range map[string]string{
		bugSkipJoint:       "joint:",
		bugNewMajorityOnly: "majorities:",
	} {
		t.Run(bug, func(t *testing.T) {
			err := jointScenario(startClusterSpare(t, 3, 2, "RAFT_BUG="+bug))
			if err == nil || !strings.HasPrefix(err.Error(), step) {
				t.Fatalf("RAFT_BUG=%s: the scenario ends with %v; want a failure at %q", bug, err, step)
			}
			t.Logf("RAFT_BUG=%s observed: %v", bug, err)
		})
	}
}
