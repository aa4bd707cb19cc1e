package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Node is one node of the gossip cluster: a grow-only set of messages and
// a counter (a PN-counter: per node, the sum of its increments and of its
// decrements), both spread to the peers in the background.
type Node struct {
	self  string
	peers []string
	dir   string // DATA_DIR, or "" to keep nothing on disk
	bug   string
	tick  time.Duration

	client *http.Client
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup // the senders, one per peer

	mu       sync.Mutex // guards the fields below
	seen     map[int64]bool
	messages []int64
	// pending holds, per peer, the messages it has not acknowledged yet.
	pending map[string]map[int64]bool
	// inc and dec hold, per node, the sum of its increments and of its
	// decrements: merged by max, so a state sent twice counts once.
	inc, dec map[string]int64
	// version counts the changes of the counter; sent holds, per peer,
	// the version it last acknowledged.
	version int64
	sent    map[string]int64
	// gen counts the changes of what is saved.
	gen int64

	saveMu sync.Mutex // serialises saves, and guards saved
	saved  int64      // the gen that the file on disk holds
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
	// Tick is how often the node sends each peer what it lacks.
	Tick time.Duration
	// Client sends to the peers; nil for one with a 500ms timeout.
	Client *http.Client
}

// NewNode loads the node's state from its directory and starts its
// senders.
func NewNode(c Config) (*Node, error) {
	ctx, stop := context.WithCancel(context.Background())
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 500 * time.Millisecond}
	}
	peers := c.Peers
	n := &Node{
		self: c.Self, peers: peers, dir: c.Dir, bug: c.Bug, tick: c.Tick,
		client: c.Client, ctx: ctx, stop: stop,
		seen: map[int64]bool{}, pending: map[string]map[int64]bool{},
		inc: map[string]int64{}, dec: map[string]int64{}, sent: map[string]int64{},
	}
	for _, p := range peers {
		n.pending[p] = map[int64]bool{}
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
// on disk and queued for every peer.
func (n *Node) broadcast(w http.ResponseWriter, r *http.Request) {
	var body struct{ Message *int64 }
	if err := decode(r, &body); err != nil || body.Message == nil {
		http.Error(w, `want {"message": <integer>}`, http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	n.learn(*body.Message, "")
	n.mu.Unlock()
	n.acknowledge(w)
}

// learn adds m to the set and queues it for every peer but from; it
// reports whether m was new. n.mu must be held.
func (n *Node) learn(m int64, from string) bool {
	if n.seen[m] {
		return false
	}
	n.seen[m] = true
	n.messages = append(n.messages, m)
	n.gen++
	for _, p := range n.peers {
		if p != from {
			n.pending[p][m] = true
		}
	}
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

// acknowledge answers 200 once the state is saved, 500 if it cannot be.
func (n *Node) acknowledge(w http.ResponseWriter) {
	if err := n.save(); err != nil {
		log.Printf("save: %v", err)
		http.Error(w, "cannot save: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]string{})
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
	From     string           `json:"from"`
	Messages []int64          `json:"messages"`
	Inc      map[string]int64 `json:"inc,omitempty"`
	Dec      map[string]int64 `json:"dec,omitempty"`
}

// gossip is POST /gossip from a peer: new messages are queued for the
// other peers, counters are merged by max.
func (n *Node) gossip(w http.ResponseWriter, r *http.Request) {
	var g gossipBody
	if err := decode(r, &g); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	for _, m := range g.Messages {
		n.learn(m, g.From)
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

// sender sends peer, every tick, what it lacks: the messages it has not
// acknowledged and the counter if it changed since the peer last
// acknowledged it. What a peer does not acknowledge (a partition, a
// crash) is sent again on the next tick.
func (n *Node) sender(peer string) {
	defer n.wg.Done()
	t := time.NewTicker(n.tick)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		g, version := n.outbox(peer)
		if g == nil {
			continue
		}
		ok := n.send(peer, g) == nil
		n.mu.Lock()
		if ok || n.bug == bugNoRetry {
			for _, m := range g.Messages {
				delete(n.pending[peer], m)
			}
			n.sent[peer] = max(n.sent[peer], version)
		}
		n.mu.Unlock()
	}
}

// maxBatch bounds the messages of one gossip request.
const maxBatch = 2000

// outbox is what peer lacks, or nil if nothing, with the counter's version.
func (n *Node) outbox(peer string) (*gossipBody, int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	g := &gossipBody{From: n.self}
	if n.bug == bugFlood {
		g.Messages = slices.Clone(n.messages)
	} else {
		for m := range n.pending[peer] {
			if len(g.Messages) == maxBatch {
				break
			}
			g.Messages = append(g.Messages, m)
		}
	}
	if n.sent[peer] < n.version || n.bug == bugFlood {
		g.Inc = maps.Clone(n.inc)
		if n.bug != bugForgetDecrements {
			g.Dec = maps.Clone(n.dec)
		}
	}
	if len(g.Messages) == 0 && g.Inc == nil {
		return nil, 0
	}
	return g, n.version
}

// send posts g to peer; an error for no answer or an answer but 200.
func (n *Node) send(peer string, g *gossipBody) error {
	data, err := json.Marshal(g)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(n.ctx, http.MethodPost, "http://"+peer+"/gossip", bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", peer, resp.Status)
	}
	return nil
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
