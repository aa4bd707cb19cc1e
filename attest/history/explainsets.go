package history

import (
	"fmt"
	"strings"
	"time"
)

// shown bounds how many elements of each kind an explanation lists.
const shown = 5

// Summary is the result's counts in one line: "200 acknowledged messages
// checked on n1 n2 n3 (1 200 reads): 198 stable, 2 lost; visible on every
// node after median 12ms, p95 80ms, max 310ms (message 17) in 4ms".
func (r SetResult) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s checked on %s (%s", plural(r.Acked, "acknowledged "+r.Element), strings.Join(r.Nodes, " "), plural(r.Reads, "read"))
	if n := r.Adds[Unknown]; n > 0 {
		fmt.Fprintf(&b, ", %d adds of unknown outcome, %d of them seen", n, r.Recovered)
	}
	fmt.Fprintf(&b, "): %d stable", r.Stable)
	for _, c := range []struct {
		n    int
		what string
	}{{len(r.Lost), "lost"}, {len(r.Stale), "stale"}, {len(r.Unstable), "unstable"}, {len(r.Unexpected), "unexpected"}, {len(r.Late), "late"}, {len(r.NeverRead), "never read"}, {len(r.Malformed), "unreadable reads"}} {
		if c.n > 0 {
			fmt.Fprintf(&b, ", %d %s", c.n, c.what)
		}
	}
	if l := r.Latency; l.N > 0 {
		fmt.Fprintf(&b, "; visible on every node after median %s, p95 %s, max %s (%s %d)", ms(l.Median), ms(l.P95), ms(l.Max), r.Element, l.Slowest)
	}
	fmt.Fprintf(&b, " in %s", r.Duration.Round(time.Millisecond))
	return b.String()
}

// Explain says in words what went wrong, element by element: which one,
// acknowledged when and by whom, and which node does not show it.
func (r SetResult) Explain(c SetContract) string {
	el := r.Element
	var b strings.Builder
	section := func(list []ElementReport, head string, line func(ElementReport) string) {
		if len(list) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s:", fmt.Sprintf(head, plural(len(list), el)))
		for i, e := range list {
			if i == shown {
				fmt.Fprintf(&b, "\n  … and %d more", len(list)-shown)
				break
			}
			b.WriteString("\n  " + line(e))
		}
	}
	added := func(e ElementReport) string {
		if e.Add.Outcome == OK {
			s := fmt.Sprintf("%s %d, acknowledged by %s at %s", el, e.Element, e.Add.Node, stamp(e.Add.Complete))
			if e.Earlier {
				s += fmt.Sprintf(" (in test %q, before this history)", e.Add.Test)
			}
			return s
		}
		return fmt.Sprintf("%s %d, whose add on %s (%s) had no answer but which a read showed", el, e.Element, e.Add.Node, stamp(e.Add.Invoke))
	}
	missing := func(m []NodeRead) string {
		var parts []string
		for i, nr := range m {
			if i == shown {
				parts = append(parts, "…")
				break
			}
			parts = append(parts, fmt.Sprintf("%s (read at %s)", nr.Node, stamp(nr.Read.Complete)))
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(&b, "the %s set is not right (%s)", c.Name, r.Summary())
	section(r.Lost, "%s lost: acknowledged, and no node shows it in its last read", func(e ElementReport) string {
		return fmt.Sprintf("%s: missing from the last read of %s", added(e), missing(e.Missing))
	})
	section(r.Stale, "%s not on every node: some nodes show it, others still not in their last read", func(e ElementReport) string {
		return fmt.Sprintf("%s: shown by %s, missing from the last read of %s", added(e), strings.Join(e.Showing, " "), missing(e.Missing))
	})
	section(r.Unstable, "%s shown by a node and then gone from it: once a node shows an element it must keep showing it", func(e ElementReport) string {
		s := fmt.Sprintf("%s %d: %s showed it at %s", el, e.Element, e.Shown.Node, stamp(e.Shown.Complete))
		if e.Gone != nil {
			s += fmt.Sprintf(", then its read at %s did not", stamp(e.Gone.Complete))
		}
		return s
	})
	section(r.Unexpected, "%s shown that no client added", func(e ElementReport) string {
		s := fmt.Sprintf("%s %d: shown by %s", el, e.Element, strings.Join(e.Showing, " "))
		if e.Shown != nil {
			s += fmt.Sprintf(" (first at %s)", stamp(e.Shown.Complete))
		}
		if e.Add != nil {
			s += fmt.Sprintf(", but its add was refused: %s", e.Add)
		}
		return s
	})
	section(r.Late, fmt.Sprintf("%%s slower than %s to show on every node", r.Within), func(e ElementReport) string {
		return fmt.Sprintf("%s: on every node only %s later", added(e), ms(e.Latency))
	})
	if len(r.Malformed) > 0 {
		m := r.Malformed[0]
		fmt.Fprintf(&b, "\n%s answered 2xx with a body the check cannot read; the first: %s\n  %v", plural(len(r.Malformed), "read"), m.Op, m.Err)
	}
	return b.String()
}

// Why says, for a result with nothing to judge, why.
func (r SetResult) Why(c SetContract) string {
	switch {
	case len(r.Malformed) > 0:
		return fmt.Sprintf("no read could be read (%s): %v", r.Malformed[0].Op, r.Malformed[0].Err)
	case r.Reads == 0:
		return fmt.Sprintf("the history has no read with a 2xx answer; the check judges %s", c.Describe)
	}
	return fmt.Sprintf("the history has no acknowledged add (%d adds without an answer, %d refused); the check judges %s", r.Adds[Unknown], r.Adds[Fail], c.Describe)
}

// Summary is the result's counts in one line.
func (r CounterResult) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s: acknowledged sum %d", plural(r.Adds[OK]+r.Adds[Unknown]+r.Adds[Fail], "add"), plural(r.Reads, "read"), r.Sum)
	if len(r.Unknown) > 0 {
		fmt.Fprintf(&b, ", %s of unknown outcome allow %d … %d", plural(len(r.Unknown), "add"), r.Low, r.High)
	}
	if len(r.Final) > 0 {
		fmt.Fprintf(&b, "; final reads %s", finalValues(r.Final))
	}
	fmt.Fprintf(&b, " in %s", r.Duration.Round(time.Millisecond))
	return b.String()
}

// Explain says in words why the counter is wrong.
func (r CounterResult) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the %s did not converge on the sum of its adds (%s)", r.Contract, r.Summary())
	want := fmt.Sprintf("%d", r.Sum)
	if r.Low != r.High {
		want = fmt.Sprintf("%d … %d (%d acknowledged, and the adds of unknown outcome may or may not have landed)", r.Low, r.High, r.Sum)
	}
	for i, w := range r.Wrong {
		if i == shown {
			fmt.Fprintf(&b, "\n  … and %d more", len(r.Wrong)-shown)
			break
		}
		fmt.Fprintf(&b, "\n  %s reads %d at %s, after every add completed; want %s", w.Op.Node, w.Value, stamp(w.Op.Complete), want)
		switch {
		case w.Value > r.High && r.Decrements == 0:
			b.WriteString(": more than every add together, as if some were counted twice")
		case w.Value < r.Low && r.Decrements == 0:
			b.WriteString(": some acknowledged adds are missing from it")
		case w.Value > r.High:
			b.WriteString(": too high, as if some decrements were missing or some increments counted twice")
		case w.Value < r.Low:
			b.WriteString(": too low, as if some increments were missing or some decrements counted twice")
		}
	}
	if len(r.Wrong) == 0 && r.Disagree {
		fmt.Fprintf(&b, "\n  the nodes disagree after every add completed: %s; each must read the same total", finalValues(r.Final))
	}
	wrong := map[*Op]bool{}
	for _, w := range r.Wrong {
		wrong[w.Op] = true
	}
	for i, ir := range r.Impossible {
		if wrong[ir.Op] {
			// The line above says it already.
			continue
		}
		if i == shown {
			fmt.Fprintf(&b, "\n  … and %d more impossible reads", len(r.Impossible)-shown)
			break
		}
		fmt.Fprintf(&b, "\n  %s read %d at %s, which no set of the adds invoked by then can make (%d … %d)", ir.Op.Node, ir.Value, stamp(ir.Op.Complete), ir.Low, ir.High)
	}
	if len(r.Malformed) > 0 {
		m := r.Malformed[0]
		fmt.Fprintf(&b, "\n%s answered 2xx with a body the check cannot read; the first: %s\n  %v", plural(len(r.Malformed), "read"), m.Op, m.Err)
	}
	return b.String()
}

// Why says, for a result with nothing to judge, why.
func (r CounterResult) Why(c CounterContract) string {
	switch {
	case r.Reads == 0 && len(r.Malformed) > 0:
		return fmt.Sprintf("no read could be read (%s): %v", r.Malformed[0].Op, r.Malformed[0].Err)
	case r.Reads == 0:
		return fmt.Sprintf("the history has no read with a 2xx answer; the check judges %s", c.Describe)
	}
	return fmt.Sprintf("no node was read after the last add completed (%s read only before): read every node once the adds are done", strings.Join(r.Behind, " "))
}

// finalValues lists the final reads: "n1=40 n2=40 n3=37".
func finalValues(rs []CounterRead) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s=%d", r.Op.Node, r.Value)
	}
	return strings.Join(parts, " ")
}

// ms renders a latency: "12ms", "1.2s".
func ms(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
