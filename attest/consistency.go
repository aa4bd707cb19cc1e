package attest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/report/linpage"
)

// CheckLinearizable checks that the operations of h can be put in one
// order, consistent with when each was invoked and completed, in which
// model m explains what every client saw; an operation whose outcome is
// unknown may take effect at any time after its invocation, or never.
// For a model with Past (kv, register), h starts where the rest of the
// run left the keys its operations name: the run's other writes of those
// keys are checked with h's (see history.CheckAfter). If the operations
// cannot be ordered, the test fails (the target's failure) with a
// smallest set of operations that cannot be ordered, and porcupine's
// visualization of the history is written to the run's artifact
// directory. A history without one completed operation that m judges
// stops the test as the suite's error, saying why none counted. A check
// that cannot decide within timeout (0: engine.DefaultCheckTimeout)
// stops the test as clstr's failure, not the target's. hint, if given,
// is the failure's.
func (d *Do) CheckLinearizable(h history.History, m history.Model, timeout time.Duration, hint ...string) {
	d.must(d.Ops(callerPos(1)).CheckLinearizable(h, m, timeout, hint...))
}

// CheckLinearizable is Do.CheckLinearizable returning the failure.
func (o *Ops) CheckLinearizable(h history.History, m history.Model, timeout time.Duration, hint ...string) error {
	r := o.d.r
	if timeout <= 0 {
		timeout = engine.DefaultCheckTimeout
	}
	what := fmt.Sprintf("check linearizable (model %s)", m.Name)
	if m.Init == nil || m.Step == nil {
		return o.fail(what, env(errors.New("the model has no Init or no Step")))
	}
	res := history.CheckAfter(r.outside(h, m), h, m, timeout)
	summary := res.Summary()
	switch res.Verdict {
	case history.Linearizable:
		r.events.Add(cluster.Event{Kind: cluster.EventLinearizable, Detail: fmt.Sprintf("%s, model %s", summary, m.Name)})
		return nil
	case history.NothingChecked:
		return o.fail(what, env(fmt.Errorf("nothing to check: %s", res.Why())))
	case history.Undecided:
		r.events.Add(cluster.Event{Kind: cluster.EventUndecided, Detail: fmt.Sprintf("%s, model %s", summary, m.Name)})
		return o.fail(what, env(fmt.Errorf("the check could not decide within %v (%s); give it more time with a longer timeout, or check a shorter history (fewer clients, a shorter duration, more keys)", timeout, summary)))
	}
	r.events.Add(cluster.Event{Kind: cluster.EventNotLinearizable, Detail: fmt.Sprintf("%s, model %s", summary, m.Name)})
	msg := res.Explain(h.Events)
	var full *artifact.Error
	if path, err := o.visualize(res); errors.As(err, &full) {
		// The run's files reached the disk limit: clstr's failure, not
		// the target's, whatever the history says.
		return o.fail(what, env(err))
	} else if err != nil {
		msg += "\n(the visualization could not be written: " + err.Error() + ")"
	} else {
		msg += "\nvisualization: " + path
	}
	return o.judged(what, msg, hint)
}

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
// error. hint, if given, is the failure's. A set that passed returns what
// the check found, for bounds of a test's own (such as on the median
// latency).
func (d *Do) CheckSet(h history.History, c history.SetContract, within time.Duration, hint ...string) history.SetResult {
	res, err := d.Ops(callerPos(1)).CheckSet(h, c, within, hint...)
	d.must(err)
	return res
}

// CheckSet is Do.CheckSet returning the failure.
func (o *Ops) CheckSet(h history.History, c history.SetContract, within time.Duration, hint ...string) (history.SetResult, error) {
	r := o.d.r
	what := fmt.Sprintf("check set (%s)", c.Name)
	res := history.CheckSet(r.before(h), h, c, within)
	switch {
	case !res.Checked():
		return res, o.fail(what, env(fmt.Errorf("nothing to check: %s", res.Why(c))))
	case res.Valid():
		r.events.Add(cluster.Event{Kind: cluster.EventSetOK, Detail: res.Summary()})
		return res, nil
	}
	return res, o.judged(what, res.Explain(c), hint)
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

// outside returns the operations the run recorded that are not h's and
// were invoked before h's last one completed, for a model that starts a
// history from the run's past; nil for one that does not.
func (r *run) outside(h history.History, m history.Model) []history.Op {
	if m.Past == nil {
		return nil
	}
	return r.before(h)
}

// before returns the operations the run recorded that are not h's and
// were invoked before h's last one completed.
func (r *run) before(h history.History) []history.Op {
	if len(h.Ops) == 0 {
		return nil
	}
	// h's operations are values the recorder holds too; a count of each
	// tells them apart from equal ones that are not h's.
	own := make(map[history.Op]int, len(h.Ops))
	var end time.Duration
	for _, op := range h.Ops {
		own[op]++
		end = max(end, op.Invoke, op.Complete)
	}
	return r.hist.Ops(func(op history.Op) bool {
		if op.Invoke > end {
			return false
		}
		if n := own[op]; n > 0 {
			own[op] = n - 1
			return false
		}
		return true
	})
}

// visualize writes the result's visualization into the run's artifact
// directory and returns its path. There is one file per check site (the
// script position of the call): a later failure there, in a retry say,
// replaces it. The page is made safe to open (internal/report/linpage)
// and counted against the run's disk quota.
func (o *Ops) visualize(res history.Result) (string, error) {
	r := o.d.r
	dir, err := r.artifactDir()
	if err != nil {
		return "", err
	}
	name := "linearizability-" + siteSlug(o.pos, o.d.test) + ".html"
	// porcupine writes its page to a path; it is read back from a file
	// of the run's own, made afresh (O_EXCL), and removed.
	raw, err := os.CreateTemp(dir, ".porcupine-*.tmp")
	if err != nil {
		return "", err
	}
	raw.Close()
	defer os.Remove(raw.Name())
	if err := res.Visualize(raw.Name()); err != nil {
		return "", err
	}
	in, err := os.Open(raw.Name())
	if err != nil {
		return "", err
	}
	defer in.Close()
	r.visualMu.Lock()
	defer r.visualMu.Unlock()
	if _, err := artifact.WriteFile(dir, name, r.disk, func(w io.Writer) error { return linpage.Rewrite(w, in) }); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if rel, err := filepath.Rel(mustGetwd(), path); err == nil && !strings.HasPrefix(rel, "..") {
		path = rel
	}
	return path, nil
}

// siteSlug names a check site in a file name: "election.star:42:9" →
// "election-star-42"; the test's name when the position is unknown.
func siteSlug(pos, test string) string {
	if p := strings.Split(pos, ":"); len(p) >= 2 {
		if _, err := strconv.Atoi(p[1]); err == nil {
			return slug(p[0]) + "-" + p[1]
		}
	}
	return slug(test)
}

// artifactDir returns the run's artifact directory, making a temporary one
// the first time if the run was given none.
func (r *run) artifactDir() (string, error) {
	r.artifactsMu.Lock()
	defer r.artifactsMu.Unlock()
	if r.artifacts == "" {
		dir, err := os.MkdirTemp("", "clstr-")
		if err != nil {
			return "", err
		}
		r.artifacts = dir
	}
	return r.artifacts, nil
}

// slug makes a test's name into a file name: "Stale Reads!" → "stale-reads".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "test"
	}
	return b.String()
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}
