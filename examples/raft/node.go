package main

import (
	"context"
	"log"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// Config is what a node needs to know to run.
type Config struct {
	Addr    string   // this node's ip:port, also its identity
	Peers   []string // the other nodes' ip:port, sorted
	Members []string // the initial configuration, sorted: CLUSTER, or Addr and Peers
	DataDir string

	ElectionTimeoutMin time.Duration // a follower waits a random time in [min, max) for a leader
	ElectionTimeoutMax time.Duration
	HeartbeatInterval  time.Duration // how often a leader sends AppendEntries to each peer
	RPCTimeout         time.Duration // how long a leader waits for one AppendEntries answer
	ClientTimeout      time.Duration // how long a client write or read waits for a majority
	SnapshotEvery      int64         // applied entries beyond the snapshot that make the node take a new one

	Bug string // a planted bug from README.md, or ""
}

type role int

const (
	follower role = iota
	candidate
	leader
)

func (r role) String() string {
	switch r {
	case candidate:
		return "candidate"
	case leader:
		return "leader"
	}
	return "follower"
}

// Node is one Raft node with its key-value state machine.
//
// All Raft state sits behind one mutex. Disk writes (the state file, log
// appends) happen while holding it: they are short, and holding the lock
// makes "persist before answering" true by construction.
type Node struct {
	cfg    Config
	client *http.Client
	store  *storage

	ctx    context.Context // cancelled by Stop; every goroutine watches it
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the node starts

	proposals chan *proposal // client writes for the leader's appender
	changeMu  sync.Mutex     // one configuration change at a time

	mu sync.Mutex // guards everything below

	// Persistent state, on disk before anyone hears of it.
	term      int64
	votedFor  string
	snapIndex int64             // the last entry the snapshot covers; 0 without one
	snapTerm  int64             // its term
	snapKV    map[string]string // the state machine as of snapIndex, for InstallSnapshot; never modified
	snapConf  membership        // the configuration as of snapIndex (the initial one without a snapshot)

	// The configuration in force: of the newest configuration entry of the
	// log (at confIndex), else snapConf (confIndex = snapIndex).
	conf        membership
	confIndex   int64
	learners    map[string]bool               // nodes a leader catches up before they join
	replicators map[string]context.CancelFunc // one per peer, while started
	triggers    map[string]chan struct{}      // per peer, capacity 1: replicate now
	started     bool
	log         []Entry // the entries after the snapshot: log[i].Index == snapIndex+1+i

	// Volatile state.
	role          role
	leader        string // the leader of term, "" when unknown
	commitIndex   int64
	lastApplied   int64
	kv            map[string]string // the state machine: committed entries up to lastApplied
	deadline      time.Time         // when a follower or candidate starts an election
	leaderContact time.Time         // when a follower last heard the leader
	round         uint64            // bumped whenever an election in progress becomes moot
	cancelRound   context.CancelFunc
	changed       chan struct{} // closed and replaced whenever waiters should look again

	// Leader state, reset at each election win.
	nextIndex  map[string]int64
	matchIndex map[string]int64
	lastAck    map[string]time.Time // the last answer from each peer in this term
	ackSeq     map[string]uint64    // the newest read round each peer has answered
	readSeq    uint64               // read rounds started
	termStart  int64                // index of this term's first entry (the no-op)
	batch      map[string]int       // entries per AppendEntries to each peer (replication.go)

	// The tick-lease bug's clock: ticks of tickLoop, and the tick of each
	// peer's last answer.
	ticks   int64
	ackTick map[string]int64
}

// NewNode loads the node's persistent state from cfg.DataDir.
func NewNode(cfg Config) (*Node, error) {
	store, st, snap, entries, err := openStorage(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:         cfg,
		client:      newPeerClient(),
		store:       store,
		ctx:         ctx,
		cancel:      cancel,
		proposals:   make(chan *proposal, 1024),
		triggers:    map[string]chan struct{}{},
		batch:       map[string]int{},
		replicators: map[string]context.CancelFunc{},
		learners:    map[string]bool{},
		snapConf:    membership{Members: snap.Members, Old: snap.Old},
		term:        st.Term,
		votedFor:    st.VotedFor,
		snapIndex:   snap.Index,
		snapTerm:    snap.Term,
		snapKV:      maps.Clone(snap.KV),
		log:         entries,
		commitIndex: snap.Index,
		lastApplied: snap.Index,
		kv:          snap.KV,
		changed:     make(chan struct{}),
		cancelRound: func() {},
	}
	if n.snapConf.Members == nil {
		n.snapConf = membership{Members: cfg.Members}
	}
	n.recomputeConfLocked()
	n.resetDeadlineLocked(time.Now())
	log.Printf("loaded term %d, voted for %q, a snapshot up to entry %d, %d log entries after it", n.term, n.votedFor, n.snapIndex, len(n.log))
	return n, nil
}

// Start runs the node's timers, replicators and appender until Stop.
func (n *Node) Start() {
	n.wg.Go(n.tickLoop)
	n.wg.Go(n.appendLoop)
	n.mu.Lock()
	n.started = true
	n.syncReplicatorsLocked()
	n.mu.Unlock()
}

// Stop ends every goroutine of the node and closes its log. Everything it
// must remember is already on disk.
func (n *Node) Stop() error {
	n.cancel()
	n.wg.Wait()
	return n.store.close()
}

// tickLoop starts elections when a follower's or candidate's deadline
// passes and makes a leader step down when a majority stopped answering.
func (n *Node) tickLoop() {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case now := <-t.C:
			n.mu.Lock()
			n.ticks++
			switch {
			case n.role == leader && n.cfg.Bug == bugTickLease:
				if !n.tickLeaseLocked() {
					log.Printf("term %d: no answer from a majority for %d ticks; stepping down", n.term, n.leaseTicks())
					n.becomeFollowerLocked(n.term, "")
				}
			case n.role == leader:
				// Check quorum: a leader that has not heard from a majority
				// for a whole maximal election timeout has probably been
				// replaced; it stops claiming leadership. The
				// ignore-delayed bug leaves the check out.
				if n.cfg.Bug != bugIgnoreDelayed && !n.quorumActiveLocked(now) {
					log.Printf("term %d: no answer from a majority for %v; stepping down", n.term, n.cfg.ElectionTimeoutMax)
					n.becomeFollowerLocked(n.term, "")
				}
			case now.After(n.deadline) && !n.conf.has(n.cfg.Addr):
				// A node outside the configuration never stands: it
				// waits to be added, or stays removed.
				n.resetDeadlineLocked(now)
			case now.After(n.deadline):
				n.startElectionLocked(now)
			}
			n.mu.Unlock()
		}
	}
}

// tickLeaseLocked is the tick-lease bug's check-quorum and read lease: a
// majority answered within the last election timeout, counted in ticks of
// tickLoop rather than read from the clock. While the process is paused
// its ticker does not tick, so after a pause of any length the lease still
// holds: the old leader serves reads from its own state, and does not step
// down, until it hears of the new leader.
func (n *Node) tickLeaseLocked() bool {
	return n.majorityLocked(func(p string) bool {
		return p == n.cfg.Addr || n.ticks-n.ackTick[p] < n.leaseTicks()
	})
}

func (n *Node) leaseTicks() int64 {
	return int64(n.cfg.ElectionTimeoutMin / (10 * time.Millisecond))
}

func (n *Node) quorumActiveLocked(now time.Time) bool {
	window := n.cfg.ElectionTimeoutMax
	if n.cfg.Bug == bugLeaseReads {
		// The lease-reads bug's lease outlasts the election timeout: the
		// others may elect a new leader while this one still serves reads.
		window *= 2
	}
	return n.majorityLocked(func(p string) bool {
		return p == n.cfg.Addr || now.Sub(n.lastAck[p]) < window
	})
}

func (n *Node) resetDeadlineLocked(now time.Time) {
	spread := n.cfg.ElectionTimeoutMax - n.cfg.ElectionTimeoutMin
	d := n.cfg.ElectionTimeoutMin
	if spread > 0 {
		d += rand.N(spread)
	}
	n.deadline = now.Add(d)
}

// newRoundLocked makes any election in progress moot and returns a
// context for the next one.
func (n *Node) newRoundLocked() (context.Context, uint64) {
	n.cancelRound()
	n.round++
	ctx, cancel := context.WithCancel(n.ctx)
	n.cancelRound = cancel
	return ctx, n.round
}

// becomeFollowerLocked follows leader (or nobody, if "") in term, which
// must not be older than the current one.
func (n *Node) becomeFollowerLocked(term int64, leader string) {
	if term > n.term {
		n.term, n.votedFor = term, ""
		n.saveStateLocked()
	}
	if n.role != follower {
		log.Printf("term %d: %s → follower", n.term, n.role)
	}
	n.role = follower
	n.leader = leader
	n.newRoundLocked()
	n.notifyLocked()
}

func (n *Node) becomeLeaderLocked() {
	log.Printf("term %d: elected leader", n.term)
	n.cancelRound()
	n.role, n.leader = leader, n.cfg.Addr
	now := time.Now()
	n.nextIndex, n.matchIndex = map[string]int64{}, map[string]int64{}
	n.lastAck, n.ackSeq, n.ackTick = map[string]time.Time{}, map[string]uint64{}, map[string]int64{}
	for _, p := range n.peersLocked() {
		n.nextIndex[p] = n.lastIndexLocked() + 1
		n.lastAck[p] = now // a grace period of one check-quorum window
		n.ackTick[p] = n.ticks
	}
	// A leader may only count replicas of entries from its own term, so it
	// appends a no-op at once: committing it commits every entry before
	// it, which a read must see.
	n.appendLocked([]Entry{{Term: n.term, Op: opNoop}})
	n.termStart = n.lastIndexLocked()
	n.advanceCommitLocked()
	n.triggerAll()
	n.notifyLocked()
}

// saveStateLocked persists term and vote; a node that cannot is no longer
// safe to run.
func (n *Node) saveStateLocked() {
	if err := n.store.saveState(persistentState{Term: n.term, VotedFor: n.votedFor}); err != nil {
		fatal(err)
	}
}

// appendLocked numbers entries, appends them to the log and fsyncs it.
func (n *Node) appendLocked(entries []Entry) {
	for i := range entries {
		entries[i].Index = n.lastIndexLocked() + 1 + int64(i)
	}
	if err := n.store.append(entries); err != nil {
		fatal(err)
	}
	n.log = append(n.log, entries...)
	if slices.ContainsFunc(entries, func(e Entry) bool { return e.Op == opConfig }) {
		n.recomputeConfLocked()
	}
}

func (n *Node) lastIndexLocked() int64 { return n.snapIndex + int64(len(n.log)) }

func (n *Node) lastTermLocked() int64 {
	if len(n.log) == 0 {
		return n.snapTerm
	}
	return n.log[len(n.log)-1].Term
}

// termAtLocked is the term of the entry at index: the snapshot's term for
// its last entry, 0 for index 0 and for entries the log does not hold.
func (n *Node) termAtLocked(index int64) int64 {
	switch {
	case index == n.snapIndex:
		return n.snapTerm
	case index < n.snapIndex || index > n.lastIndexLocked():
		return 0
	}
	return n.log[index-n.snapIndex-1].Term
}

// entryLocked is the entry at index, which the log must hold.
func (n *Node) entryLocked(index int64) Entry { return n.log[index-n.snapIndex-1] }

// notifyLocked wakes every waitFor.
func (n *Node) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// waitFor re-evaluates cond, under the lock, whenever the node's state
// changes, until it reports done or an error, or ctx ends.
func (n *Node) waitFor(ctx context.Context, cond func() (bool, error)) error {
	for {
		n.mu.Lock()
		done, err := cond()
		changed := n.changed
		n.mu.Unlock()
		if err != nil || done {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return errTimeout
		}
	}
}

func (n *Node) triggerAll() {
	for _, ch := range n.triggers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func fatal(err error) {
	log.Printf("fatal: %v", err)
	os.Exit(1)
}
