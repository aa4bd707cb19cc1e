package main

import (
	"context"
	"log"
	"slices"
	"time"
)

type campaignKind int

const (
	preVote campaignKind = iota // ask whether peers would vote, changing nothing
	vote                        // bump the term and ask for votes
	join                        // two-leaders bug: run in the term just adopted
)

// startElectionLocked runs when the election deadline passes: the node
// forgets its leader and starts a pre-vote.
func (n *Node) startElectionLocked(now time.Time) {
	n.resetDeadlineLocked(now)
	if n.leader != "" {
		log.Printf("term %d: no word from leader %s; starting a pre-vote", n.term, n.leader)
		n.leader = ""
		n.notifyLocked()
	}
	ctx, round := n.newRoundLocked()
	first := preVote
	if n.cfg.Bug == bugRemovedDisrupts {
		// The removed-disrupts bug has no pre-vote: a node that cannot
		// win — one removed from the cluster — still bumps its term.
		first = vote
	}
	n.wg.Go(func() { n.campaign(ctx, round, first) })
}

// campaign asks every peer for a vote (or a pre-vote) and acts on a
// majority: a won pre-vote starts the real election, a won election makes
// the node leader. It gives up as soon as the round is moot.
func (n *Node) campaign(ctx context.Context, round uint64, kind campaignKind) {
	n.mu.Lock()
	if round != n.round || n.role == leader {
		n.mu.Unlock()
		return
	}
	switch kind {
	case vote:
		n.term++
		n.votedFor, n.role, n.leader = n.cfg.Addr, candidate, ""
		n.saveStateLocked()
		n.resetDeadlineLocked(time.Now())
		n.notifyLocked()
		log.Printf("term %d: standing for election", n.term)
	case join:
		log.Printf("term %d: standing for election in the term just voted in", n.term)
	}
	req := voteRequest{
		Term:         n.term,
		CandidateID:  n.cfg.Addr,
		LastLogIndex: n.lastIndexLocked(),
		LastLogTerm:  n.lastTermLocked(),
		PreVote:      kind == preVote,
	}
	if kind == preVote {
		req.Term++
	}
	voters := slices.DeleteFunc(n.conf.voters(), func(a string) bool { return a == n.cfg.Addr })
	n.mu.Unlock()

	type answer struct {
		from string
		voteResponse
	}
	results := make(chan answer, len(voters))
	for _, p := range voters {
		n.wg.Go(func() {
			var resp voteResponse
			// A vote call may take as long as the shortest election
			// round; the next round cancels it anyway.
			if err := n.call(ctx, p, pathRequestVote, req, &resp, n.cfg.ElectionTimeoutMin); err != nil {
				resp = voteResponse{}
			}
			results <- answer{p, resp}
		})
	}

	granted := map[string]bool{n.cfg.Addr: true} // its own
	won := func() bool { return n.majorityLocked(func(a string) bool { return granted[a] }) }
	for answered := 0; ; answered++ {
		n.mu.Lock()
		done := won()
		n.mu.Unlock()
		if done {
			break
		}
		if answered == len(voters) {
			return
		}
		var r answer
		select {
		case r = <-results:
		case <-ctx.Done():
			return
		}
		n.mu.Lock()
		moot := round != n.round
		if !moot && r.Term > n.term {
			n.becomeFollowerLocked(r.Term, "")
			moot = true
		}
		n.mu.Unlock()
		if moot {
			return
		}
		if r.VoteGranted {
			granted[r.from] = true
		}
	}

	if kind == preVote {
		n.campaign(ctx, round, vote)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if round == n.round && n.role == candidate && n.term == req.Term {
		n.becomeLeaderLocked()
	}
}

// handleVote answers a RequestVote, real or pre-vote.
func (n *Node) handleVote(req voteRequest) voteResponse {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	resp := voteResponse{Term: n.term}
	if req.Term < n.term {
		return resp
	}
	// A node that knows a live leader ignores candidates of later terms
	// instead of adopting their term, so a node that merely lost touch (or
	// whose traffic is delayed) cannot depose a working leader. A leader
	// relies on check-quorum to notice when it is no longer one. Within the
	// leader's own term the vote rules below are enough.
	sticky := n.role == follower && n.leader != "" && now.Sub(n.leaderContact) < n.cfg.ElectionTimeoutMin
	// The removed-disrupts bug leaves this out too: any higher term
	// unseats a leader.
	if n.cfg.Bug != bugRemovedDisrupts && (n.role == leader || (sticky && req.Term > n.term)) {
		return resp
	}
	upToDate := req.LastLogTerm > n.lastTermLocked() ||
		(req.LastLogTerm == n.lastTermLocked() && req.LastLogIndex >= n.lastIndexLocked())
	if req.PreVote {
		resp.VoteGranted = req.Term > n.term && upToDate
		return resp
	}

	newTerm := req.Term > n.term
	if newTerm {
		n.becomeFollowerLocked(req.Term, "")
		resp.Term = n.term
	}
	if n.cfg.Bug == bugRevote && !newTerm && n.votedFor != "" && n.votedFor != req.CandidateID {
		// The revote bug: a vote request of the current term resets the
		// vote, so a node that voted for this term's leader (and may
		// follow it) votes again for a late candidate of the same term.
		log.Printf("term %d: forgetting the vote for %s, %s asks", n.term, n.votedFor, req.CandidateID)
		n.votedFor = ""
	}
	// The two-leaders bug leaves out "at most one vote per term".
	free := n.votedFor == "" || n.votedFor == req.CandidateID || n.cfg.Bug == bugTwoLeaders
	if !free || !upToDate {
		return resp
	}
	n.votedFor = req.CandidateID
	n.saveStateLocked()
	n.resetDeadlineLocked(now)
	resp.VoteGranted = true

	if n.cfg.Bug == bugTwoLeaders && newTerm {
		// So that the missing check produces several leaders every time,
		// not only when two election timers happen to fire together, a
		// node that votes in a new term also stands in it. Every peer
		// grants it a vote too, and each such candidate wins.
		ctx, round := n.newRoundLocked()
		n.role, n.votedFor = candidate, n.cfg.Addr
		n.saveStateLocked()
		n.notifyLocked()
		n.wg.Go(func() { n.campaign(ctx, round, join) })
	}
	return resp
}
