package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Node is one node of the gossip cluster: a grow-only set of messages and
// a counter (a PN-counter: per node, the sum of its increments and of its
// decrements), both spread to the peers in the background.
//
// A message goes from the node a client gave it to (its origin) to the hub,
// the first of all the nodes' addresses in sorted order, and from the hub
// to every other node: the hub gathers what every origin sent it during a
// tick into one request per node. The origin stays answerable for its
// message until the hub tells it that every node has it; a peer still
// without that word after the fallback time gets the message from the
// origin itself, so a hub that is down or cut off delays messages but
// loses none. deliver.go holds the sending side.
type Node struct {
	self, hub string
	peers     []string
	dir       string // DATA_DIR, or "" to keep nothing on disk
	bug       string
	tick      time.Duration
	fallback  time.Duration

	client *http.Client
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup           // the senders and their requests
	wake   map[string]chan struct{} // per peer: sends to it at once

	mu       sync.Mutex // guards the fields below
	seen     map[int64]bool
	messages []int64
	// mine holds the messages this node took from clients: it answers for
	// them until every node has them, across restarts.
	mine []int64
	// pending holds, per peer, the messages this node must get to it;
	// notices, per peer, its messages this node relayed to every node.
	pending, notices map[string]map[int64]item
	// relaying holds the messages this node passes on to every node, each
	// with the origins to tell once every node has it; relayed those every
	// node has.
	relaying map[int64][]string
	relayed  map[int64]bool
	// inflight counts, per peer, the requests not yet answered.
	inflight map[string]int
	// inc and dec hold, per node, the sum of its increments and of its
	// decrements: merged by max, so a state sent twice counts once.
	inc, dec map[string]int64
	// version counts the changes of the counter; sent holds, per peer,
	// the version it last acknowledged, and counterOut whether a request
	// to it carries the counter now.
	version    int64
	sent       map[string]int64
	counterOut map[string]bool
	// gen counts the changes of what is saved.
	gen int64

	saveMu sync.Mutex // serialises saves, and guards saved
	saved  int64      // the gen that the file on disk holds
}

// item is a message, or a notice, that a peer is to get.
type item struct {
	due     time.Time // not sent before
	sending bool      // in a request not yet answered
}

// Config is what a node is made of.
type Config struct {
	// Self is the node's ADDR; Peers the other nodes' (PEERS).
	Self  string
	Peers []string
	// Dir is DATA_DIR, or "" to keep nothing on disk.
	Dir string
	// Bug is a planted bug, or "".
	Bug string
	// Tick is how often the node sends each peer what it lacks: the hub's
	// batching window. Zero for defaultTick.
	Tick time.Duration
	// Fallback is how long an origin waits for the hub's word that every
	// node has a message before it sends the message to the peers itself.
	// Zero for defaultFallback(Tick).
	Fallback time.Duration
	// Client sends to the peers; nil for one with a one-second timeout.
	Client *http.Client
}

// defaultTick is the tick of a node whose Config or GOSSIP_TICK sets none.
const defaultTick = 200 * time.Millisecond

// defaultFallback leaves the hub, with the ticks of its batches, the
// delays of a slow network and the notice's own wait, time to spare.
func defaultFallback(tick time.Duration) time.Duration {
	return max(2*time.Second, 10*tick)
}

// NewNode loads the node's state from its directory and starts its
// senders.
func NewNode(c Config) (*Node, error) {
	ctx, stop := context.WithCancel(context.Background())
	if c.Tick <= 0 {
		c.Tick = defaultTick
	}
	if c.Fallback <= 0 {
		c.Fallback = defaultFallback(c.Tick)
	}
	if c.Client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = maxInFlight
		c.Client = &http.Client{Timeout: time.Second, Transport: t}
	}
	peers := c.Peers
	n := &Node{
		self: c.Self, hub: slices.Min(append(slices.Clone(peers), c.Self)), peers: peers,
		dir: c.Dir, bug: c.Bug, tick: c.Tick, fallback: c.Fallback,
		client: c.Client, ctx: ctx, stop: stop, wake: map[string]chan struct{}{},
		seen: map[int64]bool{}, pending: map[string]map[int64]item{}, notices: map[string]map[int64]item{},
		relaying: map[int64][]string{}, relayed: map[int64]bool{}, inflight: map[string]int{},
		inc: map[string]int64{}, dec: map[string]int64{}, sent: map[string]int64{}, counterOut: map[string]bool{},
	}
	for _, p := range peers {
		n.pending[p], n.notices[p] = map[int64]item{}, map[int64]item{}
		n.wake[p] = make(chan struct{}, 1)
	}
	if err := n.load(); err != nil {
		stop()
		return nil, err
	}
	for _, p := range peers {
		n.wg.Add(1)
		go n.sender(p)
	}
	return n, nil
}

// Close stops the senders and saves the state.
func (n *Node) Close() error {
	n.stop()
	n.wg.Wait()
	return n.save()
}

// Handler serves the node's HTTP API.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	mux.HandleFunc("POST /broadcast", n.broadcast)
	mux.HandleFunc("GET /read", n.read)
	mux.HandleFunc("POST /add", n.add)
	mux.HandleFunc("GET /counter", n.counter)
	mux.HandleFunc("POST /gossip", n.gossip)
	return mux
}

// broadcast is POST /broadcast {"message": n}: 200 once the message is
// on disk. A message new to the node is the node's to deliver.
func (n *Node) broadcast(w http.ResponseWriter, r *http.Request) {
	var body struct{ Message *int64 }
	if err := decode(r, &body); err != nil || body.Message == nil {
		http.Error(w, `want {"message": <integer>}`, http.StatusBadRequest)
		return
	}
	m := *body.Message
	n.mu.Lock()
	if n.learn(m) {
		n.mine = append(n.mine, m)
		n.originate(m, time.Now())
	}
	n.mu.Unlock()
	if n.acknowledge(w) && n.self != n.hub {
		n.nudge(n.hub)
	}
}

// learn adds m to the set; it reports whether m was new. n.mu must be
// held.
func (n *Node) learn(m int64) bool {
	if n.seen[m] {
		return false
	}
	n.seen[m] = true
	n.messages = append(n.messages, m)
	n.gen++
	return true
}

// read is GET /read: {"messages": [every message the node knows]}.
func (n *Node) read(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	out := slices.Clone(n.messages)
	n.mu.Unlock()
	writeJSON(w, map[string][]int64{"messages": out})
}

// add is POST /add {"delta": n}: 200 once the node's new total is on
// disk.
func (n *Node) add(w http.ResponseWriter, r *http.Request) {
	var body struct{ Delta *int64 }
	if err := decode(r, &body); err != nil || body.Delta == nil {
		http.Error(w, `want {"delta": <integer>}`, http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	if d := *body.Delta; d >= 0 {
		n.inc[n.self] += d
	} else {
		n.dec[n.self] -= d
	}
	n.version++
	n.gen++
	n.mu.Unlock()
	n.acknowledge(w)
}

// acknowledge answers 200 once the state is saved, 500 if it cannot be;
// it reports whether it answered 200.
func (n *Node) acknowledge(w http.ResponseWriter) bool {
	if err := n.save(); err != nil {
		log.Printf("save: %v", err)
		http.Error(w, "cannot save: "+err.Error(), http.StatusInternalServerError)
		return false
	}
	writeJSON(w, map[string]string{})
	return true
}

// counter is GET /counter: {"value": the sum of every node's increments
// less its decrements}.
func (n *Node) counter(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	var v int64
	for _, x := range n.inc {
		v += x
	}
	for _, x := range n.dec {
		v -= x
	}
	n.mu.Unlock()
	writeJSON(w, map[string]int64{"value": v})
}

// gossipBody is what nodes send each other on POST /gossip.
type gossipBody struct {
	From     string  `json:"from"`
	Messages []int64 `json:"messages"`
	// Relay asks the receiver to pass Messages on to every node and to
	// tell the sender, in a later Done, once every node has them.
	Relay bool `json:"relay,omitempty"`
	// Done lists messages of the receiver's that every node has.
	Done []int64          `json:"done,omitempty"`
	Inc  map[string]int64 `json:"inc,omitempty"`
	Dec  map[string]int64 `json:"dec,omitempty"`
}

// gossip is POST /gossip from a peer: the messages join the set (and, for
// a relay, go on to every node), the counters are merged by max, and the
// answer is 200 once what the node acknowledges is on disk.
func (n *Node) gossip(w http.ResponseWriter, r *http.Request) {
	var g gossipBody
	if err := decode(r, &g); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	n.mu.Lock()
	for _, m := range g.Messages {
		n.learn(m)
		// The peer has m: nobody need send it there again.
		delete(n.pending[g.From], m)
		if g.Relay {
			n.relay(m, g.From, now)
		} else {
			n.settle(m, now)
		}
	}
	for _, m := range g.Done {
		for _, p := range n.pending {
			delete(p, m)
		}
	}
	changedInc := merge(n.inc, g.Inc)
	if changedDec := merge(n.dec, g.Dec); changedInc || changedDec {
		n.version++
		n.gen++
	}
	n.mu.Unlock()
	// What the node acknowledges to a peer, the peer never sends again:
	// it must survive a crash as a client's broadcast does, even if the
	// node learnt it from another request whose save is not done yet.
	if err := n.save(); err != nil {
		http.Error(w, "cannot save: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// merge takes the larger of each node's sum; it reports a change.
func merge(dst, src map[string]int64) bool {
	changed := false
	for k, v := range src {
		if v > dst[k] {
			dst[k] = v
			changed = true
		}
	}
	return changed
}

// decode reads a JSON request body into v.
func decode(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return errors.New("empty body")
	}
	return json.Unmarshal(data, v)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
