package history

import (
	"fmt"
	"strings"
	"time"
)

// Explain describes a result that is not linearizable: the smallest set of
// operations that cannot be ordered, each with its client, node, times and
// what it saw, and the events that happened while they ran. An operation
// from outside the history says so, and so does a read that only such an
// operation explains.
func (r Result) Explain(events []Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations are not linearizable (model %s", r.Checked, r.Model)
	if r.Key != "" && r.Key != AllKeys {
		fmt.Fprintf(&b, ", key %q", r.Key)
	}
	if r.Earlier > 0 {
		fmt.Fprintf(&b, ", after %s of the run", plural(r.Earlier, "earlier write"))
	}
	if r.Ignored > 0 {
		fmt.Fprintf(&b, "; %s", r.ignoredText())
	}
	b.WriteString(")")
	switch len(r.Minimal) {
	case 0:
	case 1:
		b.WriteString("; this one cannot be explained by any order of the others:")
	default:
		fmt.Fprintf(&b, "; these %d cannot be put in any order that explains what each saw:", len(r.Minimal))
	}
	if len(r.Minimal) > 0 {
		for _, op := range r.Minimal {
			b.WriteString("\n  " + op.String())
			if r.outside[op] {
				fmt.Fprintf(&b, " (test %q, not in this history)", op.Test)
			}
		}
		for _, n := range r.Notes {
			b.WriteString("\n" + n)
		}
		// The events while the history's own operations of the set ran:
		// those from before it have events of their own tests.
		from, to := time.Duration(-1), time.Duration(-1)
		for _, op := range r.Minimal {
			if r.outside[op] {
				continue
			}
			if from < 0 {
				from, to = op.Invoke, op.Complete
			}
			from, to = min(from, op.Invoke), max(to, op.Complete)
		}
		var during []string
		for _, e := range events {
			if e.Time >= from && e.Time <= to {
				during = append(during, e.String())
			}
		}
		if len(during) > 0 {
			b.WriteString("\nmeanwhile:")
			for _, e := range during {
				b.WriteString("\n  " + e)
			}
		}
	}
	return b.String()
}

// Summary is the result's counts in one line: "120 operations checked
// (+2 earlier writes, 3 left open: unknown outcome; 4 not applied; 1
// ignored: …) in 12ms".
func (r Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations checked (", r.Checked)
	if r.Earlier > 0 {
		fmt.Fprintf(&b, "+%s, ", plural(r.Earlier, "earlier write"))
	}
	fmt.Fprintf(&b, "%d left open: unknown outcome", r.Unknown)
	if r.NotApplied > 0 {
		fmt.Fprintf(&b, "; %d not applied", r.NotApplied)
	}
	if r.Ignored > 0 {
		fmt.Fprintf(&b, "; %s", r.ignoredText())
	}
	fmt.Fprintf(&b, ") in %s", r.Duration.Round(time.Millisecond))
	return b.String()
}

// plural is "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// ignoredText counts the ignored operations: "2 ignored, outside the
// model's contract (GET /kvv/x, …)".
func (r Result) ignoredText() string {
	s := fmt.Sprintf("%d ignored, outside the model's contract", r.Ignored)
	if r.IgnoredExample != nil {
		s += fmt.Sprintf(" (%s %s", r.IgnoredExample.Method, r.IgnoredExample.Path)
		if r.Ignored > 1 {
			s += ", …"
		}
		s += ")"
	}
	return s
}

// Why says, for a result with nothing to check, why no operation counted:
// "the history has 6 operations and none counted: 6 are outside the
// model's contract (…)".
func (r Result) Why() string {
	if r.Total == 0 {
		return "the history has no operations: the clients made no request (give clients() a longer duration or more ops)"
	}
	var parts []string
	if r.Ignored > 0 {
		s := fmt.Sprintf("%d outside the model's contract", r.Ignored)
		if r.IgnoredExample != nil {
			s += fmt.Sprintf(" (such as %s %s)", r.IgnoredExample.Method, r.IgnoredExample.Path)
		}
		if r.contract != "" {
			s += fmt.Sprintf(": model %s judges %s", r.Model, r.contract)
		}
		parts = append(parts, s)
	}
	if r.NotApplied > 0 {
		parts = append(parts, fmt.Sprintf("%d not applied (a redirect, a 4xx, or a read without an answer)", r.NotApplied))
	}
	if r.open > 0 {
		parts = append(parts, fmt.Sprintf("%d without a known outcome (5xx or no answer)", r.open))
	}
	return fmt.Sprintf("the history has %d operations and none completed in a way model %s can judge: %s; check the paths and methods the clients use, and that the nodes answer", r.Total, r.Model, strings.Join(parts, "; "))
}

// String renders an event in one line: "1.250s n3 KILL".
func (e Event) String() string {
	who := e.Node
	if who == "" {
		who = "cluster"
	}
	return fmt.Sprintf("%s %s %s", stamp(e.Time), who, e.Text)
}
