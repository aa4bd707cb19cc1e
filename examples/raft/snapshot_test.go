package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"time"

	"github.com/clstr-dev/clstr/internal/testkit/testenv"
)

// logFileSize is the size of node i's raft-log file.
func (c *cluster) logFileSize(i int) int64 {
	c.t.Helper()
	fi, err := os.Stat(filepath.Join(c.nodes[i].dataDir, logName))
	if err != nil {
		c.t.Fatal(err)
	}
	return fi.Size()
}

// snapshotScenario compacts, catches a lagging follower up and restarts
// the cluster. With a snapshot every 20 entries, 100 writes compact every
// log, on disk too; a follower that was down while the leader compacted
// gets the snapshot; a cluster restarted from scratch recovers from
// snapshot and log. Its error starts with the step that failed:
// "compact:", "disk:", "catch up:" or "restart:".
func snapshotScenario(c *cluster) error {
	l, _ := c.waitLeader(5 * time.Second)
	lagging := c.followers(l)[0]
	c.stop(lagging, syscall.SIGKILL)
	if err := c.expect(l, "PUT", "/kv/early", "first", 200, nil); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	for i := range 100 {
		if err := c.expect(l, "PUT", fmt.Sprintf("/kv/k%d", i%7), fmt.Sprintf("v%d", i), 200, nil); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
	}
	v, err := c.log(l)
	if err != nil {
		return err
	}
	if v.Snapshot.LastIncludedIndex < 81 || v.Snapshot.LastIncludedTerm < 1 || len(v.Entries) > 21 {
		return fmt.Errorf("compact: after 100 writes with a snapshot every 20 entries, the leader's log holds %d entries after snapshot %+v", len(v.Entries), v.Snapshot)
	}
	if len(v.Entries) > 0 && v.Entries[0].Index != v.Snapshot.LastIncludedIndex+1 {
		return fmt.Errorf("compact: the log starts at %d after a snapshot up to %d", v.Entries[0].Index, v.Snapshot.LastIncludedIndex)
	}
	if size := c.logFileSize(l); size > 21*200 {
		return fmt.Errorf("disk: the leader's log file holds %d bytes after compaction", size)
	}

	c.start(lagging)
	err = eventually(5*time.Second, func() error {
		lv, err := c.log(lagging)
		if err != nil {
			return err
		}
		if lv.Snapshot.LastIncludedIndex < v.Snapshot.LastIncludedIndex || lv.LastApplied < v.CommitIndex {
			return fmt.Errorf("catch up: the lagging follower has snapshot %+v and applied %d; the leader's snapshot is %+v, commit %d",
				lv.Snapshot, lv.LastApplied, v.Snapshot, v.CommitIndex)
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Every node restarts from its snapshot and log; whichever leads
	// serves the latest values.
	for i := range c.nodes {
		c.stop(i, syscall.SIGKILL)
	}
	for i := range c.nodes {
		c.launch(i)
	}
	for i := range c.nodes {
		c.waitHealthy(i)
	}
	l, _ = c.waitLeader(5 * time.Second)
	err = eventually(3*time.Second, func() error { return c.expect(l, "GET", "/kv/early", "", 200, ptr("first")) })
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	for k := range 7 {
		last := 99 - (99-k)%7
		err := eventually(3*time.Second, func() error {
			return c.expect(l, "GET", fmt.Sprintf("/kv/k%d", k), "", 200, ptr(fmt.Sprintf("v%d", last)))
		})
		if err != nil {
			return fmt.Errorf("restart: %w", err)
		}
	}
	return nil
}

func TestSnapshots(t *testing.T) {
	if err := snapshotScenario(startCluster(t, 3, "RAFT_SNAPSHOT_EVERY=20")); err != nil {
		t.Fatal(err)
	}
}

// Each planted bug of log compaction fails the scenario at its step.
func TestSnapshotBugs(t *testing.T) {
	testenv.Long(t, "it runs every snapshot bug through its cluster test")
	for bug, step := range map[string]string{
		bugSnapshotNoTerm:      "compact:",
		bugLogNeverShrinks:     "disk:",
		bugNoInstallSnapshot:   "catch up:",
		bugSnapshotWithoutData: "restart:",
	} {
		t.Run(bug, func(t *testing.T) {
			err := snapshotScenario(startCluster(t, 3, "RAFT_SNAPSHOT_EVERY=20", "RAFT_BUG="+bug))
			if err == nil || !strings.HasPrefix(err.Error(), step) {
				t.Fatalf("RAFT_BUG=%s: the scenario ends with %v; want a failure at %q", bug, err, step)
			}
			t.Logf("RAFT_BUG=%s observed: %v", bug, err)
		})
	}
}

// The lagging follower alone serves reads once it leads: the others are
// killed one after another so that it wins, with the leader's snapshot as
// its state.
func TestInstalledSnapshotServesReads(t *testing.T) {
	c := startCluster(t, 3, "RAFT_SNAPSHOT_EVERY=10")
	l, _ := c.waitLeader(5 * time.Second)
	lagging := c.followers(l)[0]
	other := c.followers(l)[1]
	c.stop(lagging, syscall.SIGKILL)
	for i := range 50 {
		if err := c.expect(l, "PUT", "/kv/key", fmt.Sprintf("v%d", i), 200, nil); err != nil {
			t.Fatal(err)
		}
	}
	c.start(lagging)
	if err := eventually(5*time.Second, func() error {
		lv, err := c.log(lagging)
		if err != nil {
			return err
		}
		if lv.Snapshot.LastIncludedIndex == 0 {
			return fmt.Errorf("the lagging follower has no snapshot yet: %+v", lv.Snapshot)
		}
		return caughtUpTo(c, lagging, l)
	}); err != nil {
		t.Fatal(err)
	}
	// Without the leader, the lagging follower and the other one make a
	// majority; stop the other once the lagging one leads, or retry.
	c.stop(l, syscall.SIGKILL)
	err := eventually(10*time.Second, func() error {
		nl, _, err := c.agreedLeader()
		if err != nil {
			return err
		}
		if nl != lagging {
			c.stop(other, syscall.SIGKILL)
			c.start(other)
			return fmt.Errorf("%s leads, not the lagging follower", c.nodes[nl].addr)
		}
		return c.expect(lagging, "GET", "/kv/key", "", 200, ptr("v49"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// caughtUpTo checks that node i has applied everything the leader l has
// committed.
func caughtUpTo(c *cluster, i, l int) error {
	lv, err := c.log(l)
	if err != nil {
		return err
	}
	v, err := c.log(i)
	if err != nil {
		return err
	}
	if v.LastApplied < lv.CommitIndex {
		return fmt.Errorf("node %s applied up to %d, the leader committed %d", c.nodes[i].addr, v.LastApplied, lv.CommitIndex)
	}
	return nil
}
