package main

import (
	"log"
	"maps"
	"slices"
	"time"
)

// Log compaction (Raft §7): once SnapshotEvery entries are applied beyond
// the snapshot, a node writes its state machine to a new snapshot and
// drops the entries it covers from its log, on disk too. A leader that no
// longer holds the entries a follower needs sends it the snapshot with
// InstallSnapshot instead.

// maybeSnapshotLocked takes a snapshot when enough entries were applied
// since the last one.
func (n *Node) maybeSnapshotLocked() {
	if n.cfg.SnapshotEvery > 0 && n.lastApplied-n.snapIndex >= n.cfg.SnapshotEvery {
		n.snapshotLocked()
	}
}

// snapshotLocked saves the state machine as of lastApplied and cuts the
// log after it.
func (n *Node) snapshotLocked() {
	conf := n.confAtLocked(n.lastApplied)
	snap := snapshot{Index: n.lastApplied, Term: n.termAtLocked(n.lastApplied), KV: maps.Clone(n.kv), Members: conf.Members, Old: conf.Old}
	if n.cfg.Bug == bugSnapshotNoTerm {
		// The snapshot-no-term bug forgets the term of the last entry
		// it covers, which the consistency check after it needs.
		snap.Term = 0
	}
	n.saveSnapshotLocked(snap)
	rest := slices.Clone(n.log[snap.Index-n.snapIndex:])
	// The log-never-shrinks bug compacts the log in memory only; the
	// file keeps every entry.
	if n.cfg.Bug != bugLogNeverShrinks {
		if err := n.store.rewrite(snap.Index+1, rest); err != nil {
			fatal(err)
		}
	}
	log.Printf("term %d: snapshot up to entry %d (term %d); %d entries stay in the log", n.term, snap.Index, snap.Term, len(rest))
	n.log, n.snapIndex, n.snapTerm, n.snapKV, n.snapConf = rest, snap.Index, snap.Term, snap.KV, conf
}

// saveSnapshotLocked writes snap to disk, before the log entries it
// covers go.
func (n *Node) saveSnapshotLocked(snap snapshot) {
	if n.cfg.Bug == bugSnapshotWithoutData {
		// The snapshot-without-data bug saves where the snapshot ends
		// but not the state machine: after a restart, what the log
		// dropped is gone.
		snap.KV = nil
	}
	if err := n.store.saveSnapshot(snap); err != nil {
		fatal(err)
	}
}

// snapshotRequestFor builds an InstallSnapshot for peer when the entries
// it needs next are in the snapshot only; ok is false otherwise, or
// unless this node leads.
func (n *Node) snapshotRequestFor(peer string) (req snapshotRequest, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != leader || n.nextIndex[peer] > n.snapIndex || n.cfg.Bug == bugNoInstallSnapshot {
		return req, false
	}
	// snapKV is never modified, only replaced: it can be encoded
	// outside the lock.
	return snapshotRequest{
		Term:              n.term,
		LeaderID:          n.cfg.Addr,
		LastIncludedIndex: n.snapIndex,
		LastIncludedTerm:  n.snapTerm,
		Data:              n.snapKV,
		Members:           n.snapConf.Members,
		Old:               n.snapConf.Old,
	}, true
}

// handleSnapshotResponse records a peer's answer to InstallSnapshot and
// reports whether to send again at once.
func (n *Node) handleSnapshotResponse(peer string, req snapshotRequest, resp snapshotResponse, err error) bool {
	if err != nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != leader || n.term != req.Term {
		return false
	}
	if resp.Term > n.term {
		n.becomeFollowerLocked(resp.Term, "")
		return false
	}
	n.lastAck[peer] = time.Now()
	if req.LastIncludedIndex > n.matchIndex[peer] {
		n.matchIndex[peer] = req.LastIncludedIndex
		n.advanceCommitLocked()
		n.notifyLocked()
	}
	n.nextIndex[peer] = max(n.nextIndex[peer], req.LastIncludedIndex+1)
	return n.nextIndex[peer] <= n.lastIndexLocked()
}

// handleInstallSnapshot answers a leader's InstallSnapshot: a snapshot
// past what this node has committed replaces its state machine, and its
// log unless the log holds the snapshot's last entry.
func (n *Node) handleInstallSnapshot(req snapshotRequest) snapshotResponse {
	n.mu.Lock()
	defer n.mu.Unlock()
	resp := snapshotResponse{Term: n.term}
	if req.Term < n.term {
		return resp
	}
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
	if req.LastIncludedIndex <= n.commitIndex {
		return resp
	}

	var rest []Entry
	if req.LastIncludedIndex < n.lastIndexLocked() && n.termAtLocked(req.LastIncludedIndex) == req.LastIncludedTerm {
		rest = slices.Clone(n.log[req.LastIncludedIndex-n.snapIndex:])
	}
	snap := snapshot{Index: req.LastIncludedIndex, Term: req.LastIncludedTerm, KV: req.Data, Members: req.Members, Old: req.Old}
	if snap.KV == nil {
		snap.KV = map[string]string{}
	}
	n.saveSnapshotLocked(snap)
	if err := n.store.rewrite(snap.Index+1, rest); err != nil {
		fatal(err)
	}
	log.Printf("term %d: installed a snapshot from %s up to entry %d (term %d)", n.term, req.LeaderID, snap.Index, snap.Term)
	n.log, n.snapIndex, n.snapTerm, n.snapKV = rest, snap.Index, snap.Term, snap.KV
	n.snapConf = membership{Members: snap.Members, Old: snap.Old}
	n.kv = maps.Clone(snap.KV)
	n.recomputeConfLocked()
	n.commitIndex, n.lastApplied = snap.Index, snap.Index
	n.notifyLocked()
	return resp
}
