package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"
)

// maxBatch bounds the messages of one gossip request.
const maxBatch = 2000

// maxInFlight bounds the requests to one peer that may await their answer
// at once: a slow link holds up no more than that, and a batch need not
// wait for the answer to the one before it.
const maxInFlight = 3

// originate makes m, which a client gave this node, the node's to
// deliver: through the hub at once and, to peers the hub's word has not
// covered by then, directly after the fallback time. The hub itself sends
// to every peer. n.mu must be held.
func (n *Node) originate(m int64, now time.Time) {
	if n.self == n.hub {
		n.relay(m, "", now)
		return
	}
	for _, p := range n.peers {
		due := now.Add(n.fallback)
		if p == n.hub {
			due = now
		}
		n.pending[p][m] = item{due: due}
	}
}

// relay queues m for every peer but origin, and notes that origin is to
// be told once every node has it; origin is "" for the node's own
// message. n.mu must be held.
func (n *Node) relay(m int64, origin string, now time.Time) {
	if n.relayed[m] {
		n.notify(origin, m, now)
		return
	}
	origins, ok := n.relaying[m]
	if !ok {
		origins = []string{}
		for _, p := range n.peers {
			if _, queued := n.pending[p][m]; p != origin && !queued {
				n.pending[p][m] = item{due: now}
			}
		}
	}
	if origin != "" && !slices.Contains(origins, origin) {
		origins = append(origins, origin)
	}
	n.relaying[m] = origins
	n.settle(m, now)
}

// settle notes that a relayed m is on every node, once no peer lacks it,
// and queues the word for its origins. n.mu must be held.
func (n *Node) settle(m int64, now time.Time) {
	origins, ok := n.relaying[m]
	if !ok {
		return
	}
	for _, p := range n.peers {
		if _, ok := n.pending[p][m]; ok {
			return
		}
	}
	delete(n.relaying, m)
	n.relayed[m] = true
	for _, o := range origins {
		n.notify(o, m, now)
	}
}

// notify queues for origin the word that every node has m. The word waits
// a while for a request that goes to origin anyway, and is sent alone
// only well before origin's fallback time. n.mu must be held.
func (n *Node) notify(origin string, m int64, now time.Time) {
	if q, ok := n.notices[origin]; ok {
		q[m] = item{due: now.Add(n.fallback / 4)}
	}
}

// nudge has peer's sender send what is due at once, not on its next tick.
func (n *Node) nudge(peer string) {
	select {
	case n.wake[peer] <- struct{}{}:
	default:
	}
}

// sender sends peer, every tick or when nudged, what is due for it: the
// messages it has not acknowledged and the notices of its messages, and
// the counter if it changed since the peer last acknowledged it. What a
// peer does not acknowledge (a partition, a crash) is sent again on a
// later tick.
func (n *Node) sender(peer string) {
	defer n.wg.Done()
	t := time.NewTicker(n.tick)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.wake[peer]:
		}
		g, version := n.outbox(peer, time.Now())
		if g == nil {
			continue
		}
		n.wg.Add(1)
		go n.deliver(peer, g, version)
	}
}

// outbox is what is due for peer, or nil if nothing is or too many
// requests to it await their answer, with the counter's version. What it
// returns is marked as being sent.
func (n *Node) outbox(peer string, now time.Time) (*gossipBody, int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inflight[peer] >= maxInFlight {
		return nil, 0
	}
	g := &gossipBody{From: n.self}
	if n.bug == bugFlood {
		g.Messages = slices.Clone(n.messages)
	} else {
		g.Messages = take(n.pending[peer], now, maxBatch)
		g.Relay = len(g.Messages) > 0 && peer == n.hub
	}
	// Notices go with any request to peer (none is due later than a
	// fallback time from now), and alone once one is due.
	if len(g.Messages) > 0 || anyDue(n.notices[peer], now) {
		g.Done = take(n.notices[peer], now.Add(n.fallback), maxBatch)
	}
	if n.bug == bugFlood || (n.sent[peer] < n.version && !n.counterOut[peer]) {
		n.counterOut[peer] = true
		g.Inc = maps.Clone(n.inc)
		if n.bug != bugForgetDecrements {
			g.Dec = maps.Clone(n.dec)
		}
	}
	if len(g.Messages) == 0 && len(g.Done) == 0 && g.Inc == nil {
		return nil, 0
	}
	n.inflight[peer]++
	return g, n.version
}

// anyDue reports whether an item not being sent is due by now.
func anyDue(items map[int64]item, now time.Time) bool {
	for _, it := range items {
		if !it.sending && !it.due.After(now) {
			return true
		}
	}
	return false
}

// take marks as being sent, and returns, up to limit of the items due by
// until that are not being sent already.
func take(items map[int64]item, until time.Time, limit int) []int64 {
	var out []int64
	for m, it := range items {
		if it.sending || it.due.After(until) {
			continue
		}
		if len(out) == limit {
			break
		}
		it.sending = true
		items[m] = it
		out = append(out, m)
	}
	return out
}

// deliver sends g to peer and settles what it carried: gone if the peer
// acknowledged it, to be sent again if not.
func (n *Node) deliver(peer string, g *gossipBody, version int64) {
	defer n.wg.Done()
	ok := n.post(peer, g) == nil || n.bug == bugNoRetry
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.inflight[peer]--
	if g.Inc != nil {
		n.counterOut[peer] = false
		if ok {
			n.sent[peer] = max(n.sent[peer], version)
		}
	}
	done(n.notices[peer], g.Done, ok)
	done(n.pending[peer], g.Messages, ok)
	if ok {
		for _, m := range g.Messages {
			n.settle(m, now)
		}
	}
}

// done forgets the items a peer acknowledged; those it did not are no
// longer being sent, so a later request carries them again.
func done(items map[int64]item, ms []int64, ok bool) {
	for _, m := range ms {
		if ok {
			delete(items, m)
		} else if it, found := items[m]; found {
			it.sending = false
			items[m] = it
		}
	}
}

// post sends g to peer; an error for no answer or an answer but 200.
func (n *Node) post(peer string, g *gossipBody) error {
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
