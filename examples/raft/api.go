package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// maxValueSize bounds a client's value; the contract asks for at least 1 MiB.
const maxValueSize = 16 << 20

const textPlain = "text/plain; charset=utf-8"

// Handler serves clients and peers:
//
//	GET    /health                200 once serving
//	GET    /cluster/info          {"id", "role", "term", "leader", "peers", "members", "old-members"}
//	POST   /cluster/members       body ADDR: add one node         } on the leader, answered once
//	DELETE /cluster/members/ADDR  remove one node                 } the new configuration has
//	PUT    /cluster/members       body ["ADDR", …]: joint change  } committed; else as /kv
//	GET    /log                   {"snapshot": {"last-included-index", "last-included-term"},
//	                              "entries": [{"index", "term", "command"}], "commit-index", "last-applied"}
//	PUT    /kv/{key}              on the leader, as in the single-node stages,
//	GET    /kv/{key}              answered once a majority has committed (writes)
//	DELETE /kv/{key}              or confirmed the leader (reads); on a follower
//	DELETE /clear                 307 to the leader; 503 when no leader is known
//	POST   /raft/request-vote     peer RPCs, see rpc.go
//	POST   /raft/append-entries
func (n *Node) Handler() http.Handler { return http.HandlerFunc(n.serveHTTP) }

func (n *Node) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/health":
		if allow(w, r, http.MethodGet) {
			w.Header().Set("Content-Type", textPlain)
			io.WriteString(w, "OK\n")
		}
	case path == "/cluster/info":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, n.info())
		}
	case path == "/log":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, n.logView())
		}
	case path == pathRequestVote:
		serveRPC(w, r, n.handleVote)
	case path == pathAppendEntries:
		serveRPC(w, r, n.handleAppend)
	case path == pathInstallSnapshot:
		serveRPC(w, r, n.handleInstallSnapshot)
	case path == "/cluster/members" || strings.HasPrefix(path, "/cluster/members/"):
		n.serveMembers(w, r)
	case path == "/clear" || path == "/kv" || strings.HasPrefix(path, "/kv/"):
		n.serveClient(w, r)
	default:
		w.Header().Set("Content-Type", textPlain)
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// clusterInfo is the answer to GET /cluster/info.
type clusterInfo struct {
	ID     string   `json:"id"`
	Role   string   `json:"role"`
	Term   int64    `json:"term"`
	Leader *string  `json:"leader"` // null when no leader is known
	Peers  []string `json:"peers"`  // the other nodes of the configuration, sorted
	// The configuration: its members, and during a joint configuration
	// the members it is leaving (null otherwise).
	Members    []string `json:"members"`
	OldMembers []string `json:"old-members"`
}

func (n *Node) info() clusterInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	info := clusterInfo{
		ID:         n.cfg.Addr,
		Role:       n.role.String(),
		Term:       n.term,
		Peers:      slices.DeleteFunc(n.conf.voters(), func(a string) bool { return a == n.cfg.Addr }),
		Members:    slices.Clone(n.conf.Members),
		OldMembers: slices.Clone(n.conf.Old),
	}
	if n.leader != "" {
		l := n.leader
		info.Leader = &l
	}
	if info.Peers == nil {
		info.Peers = []string{}
	}
	return info
}

// logView is the answer to GET /log.
type logView struct {
	Snapshot    snapshotView `json:"snapshot"`
	Entries     []logEntry   `json:"entries"`
	CommitIndex int64        `json:"commit-index"`
	LastApplied int64        `json:"last-applied"`
}

// snapshotView says where the snapshot ends; both are 0 without one.
type snapshotView struct {
	LastIncludedIndex int64 `json:"last-included-index"`
	LastIncludedTerm  int64 `json:"last-included-term"`
}

type logEntry struct {
	Index   int64  `json:"index"`
	Term    int64  `json:"term"`
	Command string `json:"command"`
}

func (n *Node) logView() logView {
	n.mu.Lock()
	defer n.mu.Unlock()
	v := logView{
		Snapshot:    snapshotView{n.snapIndex, n.snapTerm},
		Entries:     make([]logEntry, len(n.log)),
		CommitIndex: n.commitIndex,
		LastApplied: n.lastApplied,
	}
	for i, e := range n.log {
		v.Entries[i] = logEntry{Index: e.Index, Term: e.Term, Command: e.Command()}
	}
	return v
}

// serveClient serves /kv/{key} and /clear: the leader itself, followers
// by redirecting to it.
func (n *Node) serveClient(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", textPlain)
	n.mu.Lock()
	role, leaderAddr := n.role, n.leader
	n.mu.Unlock()
	if role != leader {
		if n.cfg.Bug == bugNoRedirect {
			n.serveLocally(w, r)
			return
		}
		redirect(w, r, leaderAddr)
		return
	}

	key, isKV := strings.CutPrefix(r.URL.Path, "/kv")
	key = strings.TrimPrefix(key, "/")
	var ok bool
	if isKV {
		ok = allow(w, r, http.MethodGet, http.MethodPut, http.MethodDelete)
	} else {
		ok = allow(w, r, http.MethodDelete)
	}
	if !ok {
		return
	}
	if isKV && key == "" {
		http.Error(w, "key cannot be empty", http.StatusBadRequest)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ClientTimeout)
	defer cancel()
	var err error
	switch {
	case !isKV:
		err = n.propose(ctx, Entry{Op: opClear})
	case r.Method == http.MethodGet:
		var v string
		var found bool
		v, found, err = n.read(ctx, key)
		if err == nil {
			if !found {
				http.Error(w, "key not found", http.StatusNotFound)
				return
			}
			io.WriteString(w, v)
			return
		}
	case r.Method == http.MethodPut:
		body, rerr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValueSize))
		if rerr != nil {
			if _, tooBig := errors.AsType[*http.MaxBytesError](rerr); tooBig {
				http.Error(w, "value too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body: "+rerr.Error(), http.StatusBadRequest)
			return
		}
		if len(body) == 0 {
			http.Error(w, "value cannot be empty", http.StatusBadRequest)
			return
		}
		err = n.propose(ctx, Entry{Op: opPut, Key: key, Value: string(body)})
	case r.Method == http.MethodDelete:
		err = n.propose(ctx, Entry{Op: opDelete, Key: key})
	}
	if err == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	if errors.Is(err, errNotLeader) {
		n.mu.Lock()
		leaderAddr = n.leader
		n.mu.Unlock()
		redirect(w, r, leaderAddr)
		return
	}
	log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
	http.Error(w, err.Error(), http.StatusServiceUnavailable)
}

// serveMembers serves membership changes on the leader; followers
// redirect them, as client requests.
func (n *Node) serveMembers(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", textPlain)
	target, one := strings.CutPrefix(r.URL.Path, "/cluster/members/")
	var ok bool
	if one {
		ok = allow(w, r, http.MethodDelete)
	} else {
		ok = allow(w, r, http.MethodPost, http.MethodPut)
	}
	if !ok {
		return
	}
	n.mu.Lock()
	role, leaderAddr := n.role, n.leader
	n.mu.Unlock()
	if role != leader {
		redirect(w, r, leaderAddr)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
	if err != nil {
		http.Error(w, "cannot read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	// Catching a new node up may take longer than a client write.
	ctx, cancel := context.WithTimeout(r.Context(), 3*n.cfg.ClientTimeout)
	defer cancel()
	switch {
	case one:
		if !validAddr(target) {
			http.Error(w, "not an ip:port: "+target, http.StatusBadRequest)
			return
		}
		err = n.removeMember(ctx, target)
	case r.Method == http.MethodPost:
		addr := strings.TrimSpace(string(body))
		if !validAddr(addr) {
			http.Error(w, "the body must be the new node's ip:port", http.StatusBadRequest)
			return
		}
		err = n.addMember(ctx, addr)
	default:
		var members []string
		if json.Unmarshal(body, &members) != nil || len(members) == 0 {
			http.Error(w, `the body must be a JSON list of ip:port, such as ["10.0.42.101:8080"]`, http.StatusBadRequest)
			return
		}
		for _, m := range members {
			if !validAddr(m) {
				http.Error(w, "not an ip:port: "+m, http.StatusBadRequest)
				return
			}
		}
		slices.Sort(members)
		err = n.changeMembers(ctx, slices.Compact(members))
	}
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, errNotLeader):
		n.mu.Lock()
		leaderAddr = n.leader
		n.mu.Unlock()
		redirect(w, r, leaderAddr)
	case errors.Is(err, errChangeInProgress):
		http.Error(w, err.Error(), http.StatusConflict)
	default:
		log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	}
}

func validAddr(s string) bool {
	_, err := netip.ParseAddrPort(s)
	return err == nil
}

// redirect sends a client to the leader, or answers 503 when none is known.
func redirect(w http.ResponseWriter, r *http.Request, leaderAddr string) {
	if leaderAddr == "" {
		http.Error(w, "no leader known; retry later", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Location", "http://"+leaderAddr+r.URL.RequestURI())
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// serveLocally is the no-redirect bug: a follower answers reads from its
// own, possibly stale, state and refuses writes, instead of redirecting.
func (n *Node) serveLocally(w http.ResponseWriter, r *http.Request) {
	key, isKV := strings.CutPrefix(r.URL.Path, "/kv")
	key = strings.TrimPrefix(key, "/")
	switch {
	case isKV && r.Method == http.MethodGet && key != "":
		n.mu.Lock()
		v, ok := n.kv[key]
		n.mu.Unlock()
		if !ok {
			http.Error(w, "key not found", http.StatusNotFound)
			return
		}
		io.WriteString(w, v)
	default:
		http.Error(w, "not the leader", http.StatusServiceUnavailable)
	}
}

// allow reports whether r's method is one of methods, answering 405 if not.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Content-Type", textPlain)
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
