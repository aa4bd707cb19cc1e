package main

import (
	"context"
	"errors"
	"log"
	"slices"
	"time"
)

// Membership changes (Raft §6). A configuration is a log entry: it takes
// effect on every node as soon as the node appends it, committed or not,
// and a node without one in its log or snapshot uses the initial
// configuration (CLUSTER, or ADDR and PEERS). A single server joins or
// leaves with one CONFIG entry; any change at once goes through a joint
// configuration (JOINT entry), during which every decision — commit,
// election, check-quorum, read — needs a majority of the old and of the
// new members, and then a CONFIG entry with the new members alone.

// membership is a configuration: Members, and during a joint
// configuration also Old, the members it is leaving.
type membership struct {
	Members []string `json:"members"`
	Old     []string `json:"old,omitempty"`
}

func (m membership) joint() bool { return m.Old != nil }

// has reports whether addr votes in m.
func (m membership) has(addr string) bool {
	return slices.Contains(m.Members, addr) || slices.Contains(m.Old, addr)
}

// voters returns every node that votes in m, sorted.
func (m membership) voters() []string {
	out := slices.Concat(m.Members, m.Old)
	slices.Sort(out)
	return slices.Compact(out)
}

var (
	errChangeInProgress = errors.New("a configuration change is in progress; retry once it has committed")
	errNotCaughtUp      = errors.New("the new node did not catch up with the leader's log in time")
)

// majorityLocked reports whether the nodes for which ok holds make a
// majority of the members, and during a joint configuration also of the
// old members. The minority-leader bug takes half for a majority; the
// new-majority-only bug ignores the old members.
func (n *Node) majorityLocked(ok func(addr string) bool) bool {
	majority := func(set []string) bool {
		count := 0
		for _, a := range set {
			if ok(a) {
				count++
			}
		}
		need := len(set)/2 + 1
		if n.cfg.Bug == bugMinorityLeader {
			need = max(1, len(set)/2)
		}
		return count >= need
	}
	if !majority(n.conf.Members) {
		return false
	}
	return !n.conf.joint() || n.cfg.Bug == bugNewMajorityOnly || majority(n.conf.Old)
}

// peersLocked returns the nodes this one talks to: every voter but
// itself and, on a leader, the nodes catching up before they join.
func (n *Node) peersLocked() []string {
	all := n.conf.voters()
	for a := range n.learners {
		all = append(all, a)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	return slices.DeleteFunc(all, func(a string) bool { return a == n.cfg.Addr })
}

// recomputeConfLocked sets the configuration from the newest CONFIG or
// JOINT entry of the log, else the snapshot's, else the initial one, and
// starts or stops replicators to match.
func (n *Node) recomputeConfLocked() {
	n.conf, n.confIndex = n.snapConf, n.snapIndex
	for i := len(n.log) - 1; i >= 0; i-- {
		if e := n.log[i]; e.Op == opConfig {
			n.conf, n.confIndex = membership{Members: e.Members, Old: e.Old}, e.Index
			break
		}
	}
	n.syncReplicatorsLocked()
}

// confAtLocked returns the configuration in force at index, which is at
// or after the snapshot: what a snapshot up to index must record.
func (n *Node) confAtLocked(index int64) membership {
	for i := index - n.snapIndex - 1; i >= 0; i-- {
		if e := n.log[i]; e.Op == opConfig {
			return membership{Members: e.Members, Old: e.Old}
		}
	}
	return n.snapConf
}

// syncReplicatorsLocked runs one replicator per peer, and no other.
func (n *Node) syncReplicatorsLocked() {
	if n.ctx.Err() != nil || !n.started {
		return
	}
	peers := n.peersLocked()
	for p, stop := range n.replicators {
		if !slices.Contains(peers, p) {
			stop()
			delete(n.replicators, p)
			delete(n.triggers, p)
		}
	}
	now := time.Now()
	for _, p := range peers {
		if _, ok := n.replicators[p]; ok {
			continue
		}
		ctx, stop := context.WithCancel(n.ctx)
		ch := make(chan struct{}, 1)
		n.replicators[p], n.triggers[p] = stop, ch
		if n.role == leader {
			if _, ok := n.nextIndex[p]; !ok {
				n.nextIndex[p] = n.lastIndexLocked() + 1
			}
			n.lastAck[p] = now // a grace period, as at election
			ch <- struct{}{}
		}
		n.wg.Go(func() { n.replicateLoop(ctx, p, ch) })
	}
}

// afterCommitLocked acts on a configuration that has just committed: a
// leader finishes a joint configuration with its new members alone, and
// steps down once a configuration without it has committed.
func (n *Node) afterCommitLocked() {
	if n.role != leader || n.confIndex > n.commitIndex {
		return
	}
	switch {
	case n.conf.joint():
		// Whichever leader commits a joint configuration finishes it,
		// also one elected after the leader that started the change.
		n.appendLocked([]Entry{{Term: n.term, Op: opConfig, Members: n.conf.Members}})
		n.triggerAll()
	case !n.conf.joint() && !slices.Contains(n.conf.Members, n.cfg.Addr) && n.cfg.Bug != bugLeaderStays:
		// The leader-stays bug keeps leading a cluster it has left.
		log.Printf("term %d: removed from the cluster; stepping down", n.term)
		n.becomeFollowerLocked(n.term, "")
	}
}

// addMember catches addr up with the log, then appends a configuration
// with it, and waits until that configuration commits.
func (n *Node) addMember(ctx context.Context, addr string) error {
	n.changeMu.Lock()
	defer n.changeMu.Unlock()
	n.mu.Lock()
	if err := n.canChangeLocked(); err != nil {
		n.mu.Unlock()
		return err
	}
	if slices.Contains(n.conf.Members, addr) {
		n.mu.Unlock()
		return nil
	}
	members := append(slices.Clone(n.conf.Members), addr)
	n.mu.Unlock()
	if err := n.catchUp(ctx, []string{addr}); err != nil {
		return err
	}
	return n.proposeConfig(ctx, membership{Members: members})
}

// removeMember appends a configuration without addr and waits until it
// commits.
func (n *Node) removeMember(ctx context.Context, addr string) error {
	n.changeMu.Lock()
	defer n.changeMu.Unlock()
	n.mu.Lock()
	if err := n.canChangeLocked(); err != nil {
		n.mu.Unlock()
		return err
	}
	if !slices.Contains(n.conf.Members, addr) {
		n.mu.Unlock()
		return nil
	}
	members := slices.DeleteFunc(slices.Clone(n.conf.Members), func(a string) bool { return a == addr })
	n.mu.Unlock()
	return n.proposeConfig(ctx, membership{Members: members})
}

// changeMembers moves to members, any number of nodes added and removed,
// through a joint configuration; it returns once the new configuration
// alone has committed. The skip-joint bug appends the new configuration
// at once.
func (n *Node) changeMembers(ctx context.Context, members []string) error {
	n.changeMu.Lock()
	defer n.changeMu.Unlock()
	n.mu.Lock()
	if err := n.canChangeLocked(); err != nil {
		n.mu.Unlock()
		return err
	}
	old := slices.Clone(n.conf.Members)
	n.mu.Unlock()
	if slices.Equal(old, members) {
		return nil
	}
	var added []string
	for _, a := range members {
		if !slices.Contains(old, a) {
			added = append(added, a)
		}
	}
	if err := n.catchUp(ctx, added); err != nil {
		return err
	}
	if n.cfg.Bug == bugSkipJoint {
		return n.proposeConfig(ctx, membership{Members: members})
	}
	if err := n.proposeConfig(ctx, membership{Members: members, Old: old}); err != nil {
		return err
	}
	// The commit of the joint configuration appended the new one
	// (afterCommitLocked).
	n.mu.Lock()
	index, term := n.confIndex, n.term
	n.mu.Unlock()
	return n.waitCommitted(ctx, index, term)
}

// canChangeLocked refuses a change unless this node leads and the last
// configuration has committed and is not joint.
func (n *Node) canChangeLocked() error {
	switch {
	case n.role != leader:
		return errNotLeader
	case n.confIndex > n.commitIndex || n.conf.joint():
		return errChangeInProgress
	}
	return nil
}

// catchUp replicates the log to addrs, which are not members yet, until
// each has every entry the leader had when it began. The
// count-before-caught-up bug does not wait.
func (n *Node) catchUp(ctx context.Context, addrs []string) error {
	if len(addrs) == 0 || n.cfg.Bug == bugCountBeforeCaughtUp {
		return nil
	}
	n.mu.Lock()
	for _, a := range addrs {
		n.learners[a] = true
	}
	target, term := n.lastIndexLocked(), n.term
	n.syncReplicatorsLocked()
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		for _, a := range addrs {
			delete(n.learners, a)
		}
		n.syncReplicatorsLocked()
		n.mu.Unlock()
	}()
	err := n.waitFor(ctx, func() (bool, error) {
		if n.role != leader || n.term != term {
			return false, errLeadershipLost
		}
		for _, a := range addrs {
			if n.matchIndex[a] < target {
				return false, nil
			}
		}
		return true, nil
	})
	if errors.Is(err, errTimeout) {
		return errNotCaughtUp
	}
	return err
}

// proposeConfig appends a configuration entry and waits until it commits.
func (n *Node) proposeConfig(ctx context.Context, m membership) error {
	n.mu.Lock()
	if n.role != leader {
		n.mu.Unlock()
		return errNotLeader
	}
	slices.Sort(m.Members)
	n.appendLocked([]Entry{{Term: n.term, Op: opConfig, Members: m.Members, Old: m.Old}})
	index, term := n.lastIndexLocked(), n.term
	n.advanceCommitLocked()
	n.triggerAll()
	n.mu.Unlock()
	return n.waitCommitted(ctx, index, term)
}

// waitCommitted waits until the entry at index, appended in term, is
// committed.
func (n *Node) waitCommitted(ctx context.Context, index, term int64) error {
	return n.waitFor(ctx, func() (bool, error) {
		if n.commitIndex >= index {
			t := n.termAtLocked(index)
			if index < n.snapIndex && n.term == term {
				t = term
			}
			if t == term {
				return true, nil
			}
			return false, errLeadershipLost
		}
		if n.term != term || n.role != leader {
			return false, errLeadershipLost
		}
		return false, nil
	})
}
