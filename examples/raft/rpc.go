package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Peers talk to each other over HTTP with JSON bodies, on the same port as
// clients, field names as in the clstr.io guide:
//
//	POST /raft/request-vote    voteRequest   → voteResponse
//	POST /raft/append-entries  appendRequest → appendResponse
//	POST /raft/install-snapshot snapshotRequest → snapshotResponse
const (
	pathRequestVote     = "/raft/request-vote"
	pathAppendEntries   = "/raft/append-entries"
	pathInstallSnapshot = "/raft/install-snapshot"
)

// Entry is one log entry. Index and Term place it; Op, Key and Value are
// the command (Op is one of the op constants).
type Entry struct {
	Index int64  `json:"index"`
	Term  int64  `json:"term"`
	Op    string `json:"op"`
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// A configuration entry's members, and during a joint
	// configuration the old members too.
	Members []string `json:"members,omitempty"`
	Old     []string `json:"old,omitempty"`
}

const (
	opNoop   = "NOOP" // appended by every new leader, to commit its predecessors' entries
	opPut    = "PUT"
	opDelete = "DELETE"
	opClear  = "CLEAR"
	opConfig = "CONFIG" // a configuration: Members, and Old when joint
)

// Command renders the entry's command for GET /log: "PUT key value",
// "DELETE key", "CLEAR" or "NOOP".
func (e Entry) Command() string {
	switch e.Op {
	case opPut:
		return opPut + " " + e.Key + " " + e.Value
	case opDelete:
		return opDelete + " " + e.Key
	case opConfig:
		if e.Old != nil {
			return "JOINT " + strings.Join(e.Old, ",") + " " + strings.Join(e.Members, ",")
		}
		return opConfig + " " + strings.Join(e.Members, ",")
	}
	return e.Op
}

// voteRequest asks for a vote. With PreVote set it only asks whether the
// peer would vote for the candidate in Term, changing nothing on either
// side (the pre-vote of Raft thesis §9.6): a node that cannot reach a
// majority then never bumps its term, and cannot disrupt the cluster when
// it comes back.
type voteRequest struct {
	Term         int64  `json:"term"`
	CandidateID  string `json:"candidate-id"`
	LastLogIndex int64  `json:"last-log-index"`
	LastLogTerm  int64  `json:"last-log-term"`
	PreVote      bool   `json:"pre-vote,omitempty"`
}

type voteResponse struct {
	Term        int64 `json:"term"`
	VoteGranted bool  `json:"vote-granted"`
}

type appendRequest struct {
	Term         int64   `json:"term"`
	LeaderID     string  `json:"leader-id"`
	PrevLogIndex int64   `json:"prev-log-index"`
	PrevLogTerm  int64   `json:"prev-log-term"`
	Entries      []Entry `json:"entries"`
	LeaderCommit int64   `json:"leader-commit"`
}

// appendResponse answers an appendRequest. On success MatchIndex is the
// index of the last entry the follower now shares with the leader. On a
// log mismatch ConflictIndex, when not 0, is where the leader should
// retry from.
type appendResponse struct {
	Term          int64 `json:"term"`
	Success       bool  `json:"success"`
	MatchIndex    int64 `json:"match-index,omitempty"`
	ConflictIndex int64 `json:"conflict-index,omitempty"`
}

// snapshotRequest sends a follower the leader's snapshot, whole: the
// state machine as of LastIncludedIndex, whose term is LastIncludedTerm.
type snapshotRequest struct {
	Term              int64             `json:"term"`
	LeaderID          string            `json:"leader-id"`
	LastIncludedIndex int64             `json:"last-included-index"`
	LastIncludedTerm  int64             `json:"last-included-term"`
	Data              map[string]string `json:"data"`
	Members           []string          `json:"members,omitempty"` // the configuration as of LastIncludedIndex
	Old               []string          `json:"old,omitempty"`
}

type snapshotResponse struct {
	Term int64 `json:"term"`
}

// maxRPCBody bounds an RPC body: a batch of entries is cut at about
// maxBatchBytes, but one entry can carry a value of up to maxValueSize.
const maxRPCBody = 64 << 20

// newPeerClient returns the client for peer RPCs. Each call carries its own
// timeout; at most a few connections per peer keep calls from piling up
// when a peer is slow, and a call that times out closes its connection.
func newPeerClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext,
			MaxConnsPerHost:     4,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// call POSTs req to peer's path and decodes the answer into resp, giving
// up after timeout.
func (n *Node) call(ctx context.Context, peer, path string, req, resp any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+peer+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hresp, err := n.client.Do(hreq)
	if err != nil {
		return err
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(hresp.Body, 4096))
		return fmt.Errorf("%s%s: status %d", peer, path, hresp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(hresp.Body, maxRPCBody)).Decode(resp); err != nil {
		return fmt.Errorf("%s%s: %w", peer, path, err)
	}
	return nil
}

// serveRPC decodes a peer's request, lets handle answer it and encodes the
// answer.
func serveRPC[Req, Resp any](w http.ResponseWriter, r *http.Request, handle func(Req) Resp) {
	if r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var req Req
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRPCBody)).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, handle(req))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
