package attest

import (
	"fmt"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/history"
)

// CheckSet checks h as a grow-only set under contract c (history.Broadcast
// for the gossip challenge), as Jepsen's set-full does, node by node:
// every acknowledged element, and every element of unknown outcome that
// some read showed, must be in the last read of every node read after it
// was acknowledged, and once a read of a node showed it, in every later
// read of that node; no read may show an element that no add made. within,
// if positive, bounds how long an acknowledged element may take to show
// on every node. The elements that the run added before h are judged by
// h's reads too, without a latency. A failure names each element that went wrong, when it was
// acknowledged and which node does not show it; a history without an
// acknowledged add or a readable read stops the test as the suite's
// error. hint, if given, is the failure's.
func (d *Do) CheckSet(h history.History, c history.SetContract, within time.Duration, hint ...string) {
	d.must(d.Ops(callerPos(1)).CheckSet(h, c, within, hint...))
}

// CheckSet is Do.CheckSet returning the failure.
func (o *Ops) CheckSet(h history.History, c history.SetContract, within time.Duration, hint ...string) error {
	r := o.d.r
	what := fmt.Sprintf("check set (%s)", c.Name)
	res := history.CheckSet(r.before(h), h, c, within)
	switch {
	case !res.Checked():
		return o.fail(what, env(fmt.Errorf("nothing to check: %s", res.Why(c))))
	case res.Valid():
		r.events.Add(cluster.Event{Kind: cluster.EventSetOK, Detail: res.Summary()})
		return nil
	}
	return o.judged(what, res.Explain(c), hint)
}

// CheckCounter checks h as a counter under contract c (history.Counter
// for the gossip challenge): once every add has completed, the last read
// of every node must be the sum of the acknowledged deltas, give or take
// any of the deltas of unknown outcome, and the same on every node; no
// read may be more or less than the adds invoked before it completed
// could make. The adds the run made before h count. A failure names the
// nodes and what they read against what the adds allow; a history without
// a read after the last add stops the test as the suite's error. hint, if
// given, is the failure's.
func (d *Do) CheckCounter(h history.History, c history.CounterContract, hint ...string) {
	d.must(d.Ops(callerPos(1)).CheckCounter(h, c, hint...))
}

// CheckCounter is Do.CheckCounter returning the failure.
func (o *Ops) CheckCounter(h history.History, c history.CounterContract, hint ...string) error {
	r := o.d.r
	what := fmt.Sprintf("check counter (%s)", c.Name)
	res := history.CheckCounter(r.before(h), h, c)
	switch {
	case !res.Checked():
		return o.fail(what, env(fmt.Errorf("nothing to check: %s", res.Why(c))))
	case res.Valid():
		r.events.Add(cluster.Event{Kind: cluster.EventCounterOK, Detail: res.Summary()})
		return nil
	}
	return o.judged(what, res.Explain(), hint)
}

// judged is the target's failure of a history check, explained.
func (o *Ops) judged(what, explanation string, hint []string) error {
	f := o.fail(what, nil)
	f.Problem = explanation
	if len(hint) > 0 {
		f.Hint = strings.Join(hint, " ")
	}
	return f
}
