package history

import (
	"fmt"
	"slices"
	"time"
)

// past is what a run did outside a history, on the keys the history's
// operations name, as far as it can matter to the history.
type past struct {
	// kept are the writes checked with the history's operations.
	kept []Op
	// outside holds every operation that is not the history's.
	outside map[Op]bool
	// writes are every write of the keys outside the history, kept or
	// not, for the notes.
	writes []Op
	// keys are the keys the history's operations name; begin is when the
	// first of them was invoked.
	keys  []string
	begin time.Duration
	// last is, for each key, the acknowledged write (or clear) that
	// completed before the history began and was invoked last: every
	// acknowledged write that completed before it was invoked was
	// overwritten before the history began.
	last map[string]Op
}

// pastOf picks, from the operations other that are not the history's,
// the writes that can still matter to own, the history's kept operations
// (see CheckAfter). A write that the model does not apply (a redirect),
// one invoked after every operation of own completed, and one of a key
// that own does not name cannot change what own may see; neither can a
// read. An acknowledged write w can neither when another acknowledged
// write of its key was invoked after w completed and itself completed
// before own began: that one overwrote w before any operation of own
// could see it.
func pastOf(m Model, other []Op, own []Op) past {
	p := past{outside: map[Op]bool{}, last: map[string]Op{}}
	if m.Past == nil || len(other) == 0 || len(own) == 0 {
		return p
	}
	p.begin = own[0].Invoke
	var end time.Duration
	named := map[string]bool{}
	for _, op := range own {
		p.begin = min(p.begin, op.Invoke)
		end = max(end, op.Invoke, op.Complete)
		if k, _ := m.Past(op); k != AllKeys && !named[k] {
			named[k] = true
			p.keys = append(p.keys, k)
		}
	}
	for _, op := range other {
		if op.Invoke > end || (m.Keep != nil && !m.Keep(op)) {
			continue
		}
		k, writes := m.Past(op)
		if !writes || (k != AllKeys && !named[k]) {
			continue
		}
		p.writes = append(p.writes, op)
		if op.Outcome != OK || op.Complete >= p.begin {
			continue
		}
		for _, key := range p.keysOf(k) {
			if l, ok := p.last[key]; !ok || op.Invoke > l.Invoke {
				p.last[key] = op
			}
		}
	}
	for _, op := range p.writes {
		k, _ := m.Past(op)
		if op.Outcome == OK && !slices.ContainsFunc(p.keysOf(k), func(key string) bool {
			l, ok := p.last[key]
			return !ok || op.Complete >= l.Invoke
		}) {
			continue // overwritten, for every key it wrote, before own began
		}
		p.kept = append(p.kept, op)
		p.outside[op] = true
	}
	return p
}

// keysOf is the keys among the history's that a write of k writes.
func (p past) keysOf(k string) []string {
	if k == AllKeys {
		return p.keys
	}
	return []string{k}
}

// spread gives each of ops (the history's and the past's, simplified)
// its partition key, for a model that partitions: a write of the past
// that concerns every key (a clear) goes into the partition of each key
// the history names, unless the history has such an operation itself
// and is checked whole.
func (p past) spread(m Model, ops []Op) ([]Op, []string) {
	if m.Partition == nil {
		return ops, nil
	}
	whole := slices.ContainsFunc(ops, func(op Op) bool {
		return !p.outside[op] && m.Partition(op) == AllKeys
	})
	out := make([]Op, 0, len(ops))
	keys := make([]string, 0, len(ops))
	for _, op := range ops {
		k := m.Partition(op)
		if k == AllKeys && p.outside[op] && !whole {
			for _, key := range p.keys {
				out = append(out, op)
				keys = append(keys, key)
			}
			continue
		}
		out = append(out, op)
		keys = append(keys, k)
	}
	return out, keys
}

// notes explains each read of minimal whose value no operation of the
// history wrote but one outside it did: when and by whom, and whether an
// acknowledged write overwrote it before the history began.
func (p past) notes(m Model, minimal, ops []Op) []string {
	if m.Source == nil || len(p.writes) == 0 {
		return nil
	}
	var out []string
	for _, read := range minimal {
		if p.outside[read] || slices.ContainsFunc(ops, func(w Op) bool { return !p.outside[w] && m.Source(read, w) }) {
			continue
		}
		var w *Op
		for i, cand := range p.writes {
			if m.Source(read, cand) && (w == nil || cand.Invoke > w.Invoke) {
				w = &p.writes[i]
			}
		}
		if w == nil {
			continue
		}
		when := "before this history began"
		if w.Invoke >= p.begin {
			when = "outside this history, while it ran"
		}
		note := fmt.Sprintf("%s was written at %s by %s in test %q, %s", quote(w.Body), stamp(w.Invoke), who(*w), w.Test, when)
		k, _ := m.Past(*w)
		for _, key := range p.keysOf(k) {
			if l, ok := p.last[key]; ok && l.Invoke > w.Complete {
				note += fmt.Sprintf(", and overwritten before it began by %s's %s %s, acknowledged at %s", who(l), l.Method, l.Path, stamp(l.Complete))
				if l.Body != "" {
					note += fmt.Sprintf(" (%s)", quote(l.Body))
				}
				break
			}
		}
		out = append(out, note+".")
	}
	return out
}

// who names the client of an operation: "client 3" or "the test".
func who(op Op) string {
	if op.Client == NoClient {
		return "the test"
	}
	return fmt.Sprintf("client %d", op.Client)
}
