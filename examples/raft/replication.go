package main

import (
	"context"
	"errors"
	"log"
	"time"
)

var (
	errNotLeader      = errors.New("not the leader")
	errLeadershipLost = errors.New("leadership lost before the request completed; its outcome is unknown")
	errTimeout        = errors.New("no majority answered in time")
)

// Limits of one AppendEntries batch; a single entry may exceed them.
// A call that fails (a peer too slow to take a whole batch within
// RPCTimeout, on a loaded machine) cuts that peer's batch to a quarter,
// down to minBatchEntries, and each call that succeeds doubles it again:
// sending the same big batch again would time out again, and the peer
// would never catch up.
const (
	maxBatchEntries = 512
	minBatchEntries = 8
	maxBatchBytes   = 4 << 20
)

// replicateLoop sends AppendEntries to one peer while this node leads: a
// heartbeat every HeartbeatInterval, and at once when triggered (new
// entries, a read round). One call at a time per peer, each bounded by
// RPCTimeout, so a slow or unreachable peer costs one pending call, never a
// pile of them.
func (n *Node) replicateLoop(ctx context.Context, peer string, trigger chan struct{}) {
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-trigger:
		}
		for {
			if sreq, ok := n.snapshotRequestFor(peer); ok {
				var resp snapshotResponse
				err := n.call(ctx, peer, pathInstallSnapshot, sreq, &resp, n.cfg.ElectionTimeoutMin)
				if !n.handleSnapshotResponse(peer, sreq, resp, err) {
					break
				}
				continue
			}
			req, seq, ok := n.appendRequestFor(peer)
			if !ok {
				break
			}
			var resp appendResponse
			err := n.call(ctx, peer, pathAppendEntries, req, &resp, n.cfg.RPCTimeout)
			if !n.handleAppendResponse(peer, req, seq, resp, err) {
				break
			}
		}
	}
}

// appendRequestFor builds the next AppendEntries for peer, with the read
// round it will confirm; ok is false unless this node leads.
func (n *Node) appendRequestFor(peer string) (req appendRequest, seq uint64, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != leader {
		return req, 0, false
	}
	next := n.nextIndex[peer]
	if next <= n.snapIndex {
		// Only the no-install-snapshot bug gets here: it sends what
		// follows the snapshot, which a follower missing entries before
		// it must refuse.
		next = n.snapIndex + 1
	}
	req = appendRequest{
		Term:         n.term,
		LeaderID:     n.cfg.Addr,
		PrevLogIndex: next - 1,
		PrevLogTerm:  n.termAtLocked(next - 1),
		LeaderCommit: n.commitIndex,
	}
	size := 0
	limit := n.batchLimitLocked(peer)
	for i := next; i <= n.lastIndexLocked() && len(req.Entries) < limit; i++ {
		e := n.entryLocked(i)
		size += len(e.Key) + len(e.Value) + 64
		if len(req.Entries) > 0 && size > maxBatchBytes {
			break
		}
		req.Entries = append(req.Entries, e)
	}
	return req, n.readSeq, true
}

// handleAppendResponse records a peer's answer and reports whether to send
// again at once (more entries to send, or a retry from an earlier index).
func (n *Node) handleAppendResponse(peer string, req appendRequest, seq uint64, resp appendResponse, err error) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.batch[peer] = max(n.batchLimitLocked(peer)/4, minBatchEntries)
		return false
	}
	n.batch[peer] = min(n.batchLimitLocked(peer)*2, maxBatchEntries)
	if n.role != leader || n.term != req.Term {
		return false
	}
	if resp.Term > n.term && n.cfg.Bug == bugTickLease && n.tickLeaseLocked() {
		return false // the tick-lease bug: the lease is trusted over the answer
	}
	if resp.Term > n.term {
		log.Printf("term %d: %s is in term %d", n.term, peer, resp.Term)
		n.becomeFollowerLocked(resp.Term, "")
		return false
	}
	// Any answer in this term shows the peer still accepts this node as
	// leader as of the request: it counts for check-quorum and read rounds.
	n.lastAck[peer] = time.Now()
	n.ackTick[peer] = n.ticks
	if seq > n.ackSeq[peer] {
		n.ackSeq[peer] = seq
		n.notifyLocked()
	}
	if resp.Success {
		match := req.PrevLogIndex + int64(len(req.Entries))
		if match > n.matchIndex[peer] {
			n.matchIndex[peer] = match
			n.advanceCommitLocked()
			n.notifyLocked() // a node catching up to join may be waited for
		}
		n.nextIndex[peer] = max(n.nextIndex[peer], match+1)
		return n.nextIndex[peer] <= n.lastIndexLocked()
	}
	next := n.nextIndex[peer]
	if resp.ConflictIndex > 0 && resp.ConflictIndex < next {
		n.nextIndex[peer] = max(resp.ConflictIndex, n.matchIndex[peer]+1, 1)
	}
	if n.cfg.Bug == bugNoInstallSnapshot && n.nextIndex[peer] <= n.snapIndex {
		return false // with no snapshot to send, retry at the next heartbeat
	}
	return n.nextIndex[peer] < next
}

// advanceCommitLocked commits the newest entry of the current term that a
// majority holds (and with it every entry before it), then applies.
func (n *Node) advanceCommitLocked() {
	for idx := n.lastIndexLocked(); idx > n.commitIndex; idx-- {
		if n.termAtLocked(idx) != n.term {
			break // older terms commit only through an entry of this one
		}
		if n.majorityLocked(func(p string) bool { return p == n.cfg.Addr || n.matchIndex[p] >= idx }) {
			n.commitIndex = idx
			n.applyLocked()
			n.afterCommitLocked()
			return
		}
	}
}

// applyLocked applies committed entries to the state machine.
func (n *Node) applyLocked() {
	if n.lastApplied >= n.commitIndex {
		return
	}
	for n.lastApplied < n.commitIndex {
		n.lastApplied++
		e := n.entryLocked(n.lastApplied)
		switch e.Op {
		case opPut:
			n.kv[e.Key] = e.Value
		case opDelete:
			delete(n.kv, e.Key)
		case opClear:
			clear(n.kv)
		}
	}
	n.maybeSnapshotLocked()
	n.notifyLocked()
}

// handleAppend answers an AppendEntries from a leader.
func (n *Node) handleAppend(req appendRequest) appendResponse {
	n.mu.Lock()
	defer n.mu.Unlock()
	resp := appendResponse{Term: n.term}
	if req.Term < n.term {
		return resp
	}
	switch {
	case n.cfg.Bug == bugIgnoreDelayed && n.role == leader:
		// The ignore-delayed bug: a leader trusts only answers to its own
		// calls and never lets another node's request unseat it.
		return resp
	case n.cfg.Bug == bugTickLease && n.role == leader && n.tickLeaseLocked():
		// The tick-lease bug: while its lease holds, a leader trusts it
		// over any other leader's claim.
		return resp
	case n.cfg.Bug == bugTwoLeaders && n.role != follower && req.Term == n.term:
		// The two-leaders bug: "there is one leader per term, and it is
		// me", so another leader of this term is rejected, not followed.
		return resp
	}
	// A follower that had given up on its leader (leader == "") may have
	// a pre-vote running; following again makes it moot.
	if req.Term > n.term || n.role != follower || n.leader == "" {
		n.becomeFollowerLocked(req.Term, req.LeaderID)
	}
	now := time.Now()
	if n.leader != req.LeaderID {
		n.leader = req.LeaderID
		n.notifyLocked()
	}
	n.leaderContact = now
	n.resetDeadlineLocked(now)
	resp.Term = n.term

	prevIndex, prevTerm, entries := req.PrevLogIndex, req.PrevLogTerm, req.Entries
	if prevIndex < n.snapIndex {
		// The snapshot holds every entry up to snapIndex, committed and
		// so the same as the leader's: only what follows it is news.
		for len(entries) > 0 && entries[0].Index <= n.snapIndex {
			entries = entries[1:]
		}
		prevIndex, prevTerm = n.snapIndex, n.snapTerm
	}
	if prevIndex > n.lastIndexLocked() {
		resp.ConflictIndex = n.lastIndexLocked() + 1
		return resp
	}
	if t := n.termAtLocked(prevIndex); t != prevTerm {
		// Skip back over the whole conflicting term at once.
		i := prevIndex
		for i > n.snapIndex+1 && n.termAtLocked(i-1) == t {
			i--
		}
		resp.ConflictIndex = max(i, n.commitIndex+1)
		return resp
	}

	truncated := false
	for len(entries) > 0 {
		e := entries[0]
		if e.Index > n.lastIndexLocked() {
			break
		}
		if n.termAtLocked(e.Index) != e.Term {
			if e.Index <= n.commitIndex {
				log.Printf("term %d: leader %s would overwrite committed entry %d; refusing", n.term, req.LeaderID, e.Index)
				return resp
			}
			if err := n.store.truncate(e.Index); err != nil {
				fatal(err)
			}
			n.log = n.log[:e.Index-n.snapIndex-1]
			n.recomputeConfLocked()
			truncated = true
			break
		}
		entries = entries[1:]
	}
	if len(entries) > 0 {
		n.appendLocked(entries)
	} else if truncated {
		if err := n.store.sync(); err != nil {
			fatal(err)
		}
	}

	last := req.PrevLogIndex + int64(len(req.Entries))
	if req.LeaderCommit > n.commitIndex {
		n.commitIndex = max(n.commitIndex, min(req.LeaderCommit, last))
		n.applyLocked()
	}
	resp.Success = true
	resp.MatchIndex = last
	return resp
}

// proposal is a client write waiting for the appender.
type proposal struct {
	entry Entry
	done  chan proposed
}

type proposed struct {
	index, term int64
	err         error
}

// appendLoop appends client writes to the leader's log in batches, one
// fsync per batch, and wakes the replicators.
func (n *Node) appendLoop() {
	for {
		var batch []*proposal
		select {
		case <-n.ctx.Done():
			return
		case p := <-n.proposals:
			batch = append(batch, p)
		}
	drain:
		for len(batch) < maxBatchEntries {
			select {
			case p := <-n.proposals:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		n.mu.Lock()
		if n.role != leader {
			n.mu.Unlock()
			for _, p := range batch {
				p.done <- proposed{err: errNotLeader}
			}
			continue
		}
		entries := make([]Entry, len(batch))
		for i, p := range batch {
			entries[i] = p.entry
			entries[i].Term = n.term
		}
		n.appendLocked(entries)
		n.advanceCommitLocked() // a cluster of one commits at once
		n.triggerAll()
		for i, p := range batch {
			p.done <- proposed{index: entries[i].Index, term: entries[i].Term}
		}
		n.mu.Unlock()
	}
}

// propose appends a write to the log and waits until it is committed and
// applied. The ack-before-commit bug returns as soon as the leader's own
// log has it.
func (n *Node) propose(ctx context.Context, e Entry) error {
	p := &proposal{entry: e, done: make(chan proposed, 1)}
	select {
	case n.proposals <- p:
	case <-ctx.Done():
		return errTimeout
	}
	var r proposed
	select {
	case r = <-p.done:
	case <-ctx.Done():
		return errTimeout
	}
	if r.err != nil || n.cfg.Bug == bugAckBeforeCommit {
		return r.err
	}
	return n.waitFor(ctx, func() (bool, error) {
		if n.lastApplied >= r.index {
			t := n.termAtLocked(r.index)
			if r.index < n.snapIndex && n.term == r.term {
				// Compacted since: no leader of a later term can have
				// replaced the entry while the term has not changed.
				t = r.term
			}
			if t == r.term {
				return true, nil
			}
			return false, errLeadershipLost
		}
		if n.role != leader || n.term != r.term {
			return false, errLeadershipLost
		}
		return false, nil
	})
}

// read returns the committed value of key once this node has confirmed it
// is still the leader (the read-index method of Raft thesis §6.4): it
// notes the commit index, has a majority answer a round of heartbeats sent
// after the read began, and waits until the state machine has applied up
// to the noted index.
func (n *Node) read(ctx context.Context, key string) (string, bool, error) {
	n.mu.Lock()
	if n.role != leader {
		n.mu.Unlock()
		return "", false, errNotLeader
	}
	if n.cfg.Bug == bugLeaseReads {
		// The lease-reads bug: a leader trusts its lease and answers from
		// its own state, without asking a majority whether it still leads.
		v, ok := n.kv[key]
		n.mu.Unlock()
		return v, ok, nil
	}
	if n.cfg.Bug == bugTickLease && n.tickLeaseLocked() && n.lastApplied >= n.termStart {
		// The lease says no other leader can exist: answer at once.
		v, ok := n.kv[key]
		n.mu.Unlock()
		return v, ok, nil
	}
	term := n.term
	readIndex := max(n.commitIndex, n.termStart)
	n.readSeq++
	seq := n.readSeq
	n.triggerAll()
	n.mu.Unlock()

	var v string
	var ok bool
	err := n.waitFor(ctx, func() (bool, error) {
		if n.role != leader || n.term != term {
			return false, errLeadershipLost
		}
		confirmed := n.majorityLocked(func(p string) bool { return p == n.cfg.Addr || n.ackSeq[p] >= seq })
		if !confirmed || n.lastApplied < readIndex {
			return false, nil
		}
		v, ok = n.kv[key]
		return true, nil
	})
	return v, ok, err
}

// batchLimitLocked returns how many entries the next AppendEntries to peer
// may carry.
func (n *Node) batchLimitLocked(peer string) int {
	if b, ok := n.batch[peer]; ok {
		return b
	}
	return maxBatchEntries
}
