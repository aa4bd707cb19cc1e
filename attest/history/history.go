// Package history records what the clients of a test did, operation by
// operation, and checks whole histories against a model.
//
// A History is engine data: attest records every request a test makes
// (checks, fetches, the requests of Do.Clients) as an Op, and every fault
// the test injects as an Event, with times on one monotonic clock that
// starts with the run. Go suites and Starlark stages see the same values.
package history

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Outcome is what a client can tell about an operation once it completed.
type Outcome string

// The outcomes of an operation.
const (
	// OK: the node answered 2xx; the operation took effect.
	OK Outcome = "ok"
	// Fail: the node answered 3xx or 4xx; the operation certainly did not
	// take effect.
	Fail Outcome = "fail"
	// Unknown: a 5xx, a timeout, a reset or no answer at all. The operation
	// may or may not have taken effect, at any time after its invocation,
	// so a checker must leave it open until the end of the history.
	Unknown Outcome = "unknown"
)

// OutcomeOf classifies an answer: status is 0 when there was none.
func OutcomeOf(status int) Outcome {
	switch {
	case status >= 200 && status < 300:
		return OK
	case status >= 300 && status < 500:
		return Fail
	}
	return Unknown
}

// NoClient is the Client of an operation made by the test itself (a check
// or a fetch) rather than by one of Do.Clients' clients.
const NoClient = -1

// Op is one request and what came of it.
type Op struct {
	// Client is the logical client that made the request: 0 … n-1 for
	// Do.Clients' clients, NoClient for the test's own checks and fetches.
	Client int `json:"client"`
	// Test is the name of the test that made it.
	Test   string `json:"test"`
	Node   string `json:"node"`
	Method string `json:"method"`
	Path   string `json:"path"`
	// Body is the request body.
	Body string `json:"body"`
	// Status is the response status, 0 if there was no response.
	Status int `json:"status"`
	// Response is the response body.
	Response string `json:"response"`
	// Error says why there was no response.
	Error string `json:"error,omitempty"`
	// Invoke and Complete are when the request was sent and when its
	// answer (or the lack of one) was known, since the start of the run.
	Invoke   time.Duration `json:"invoke"`
	Complete time.Duration `json:"complete"`
	Outcome  Outcome       `json:"outcome"`
}

// Event is something the test did to the cluster while clients worked: a
// fault injected or removed, a node stopped or started, a nemesis step.
type Event struct {
	Time time.Duration `json:"time"`
	// Node is the node it concerns, or "" for the whole cluster.
	Node string `json:"node,omitempty"`
	// Kind is what the event is; its other fields are in the event log.
	Kind cluster.EventKind `json:"kind"`
	// Text reads as in the event log: "KILL", "PARTITIONED FROM: n3, n4".
	Text string `json:"text"`
	// Test is the name of the test that did it.
	Test string `json:"test"`
}

// History is the operations and events of a run or of part of it, each in
// the order they were invoked or happened.
type History struct {
	Ops    []Op    `json:"ops"`
	Events []Event `json:"events"`
}

// Recorder collects a run's history. It is safe for concurrent use.
type Recorder struct {
	start time.Time

	mu sync.Mutex // guards chunks and events
	// chunks hold the operations in chunks of chunkLen, so that recording
	// never copies what it already holds.
	chunks [][]Op
	events []Event

	// long is what remains of the bytes of long bodies (over clipAt) the
	// recorder keeps whole; past it, Keep clips them.
	long atomic.Int64
}

const chunkLen = 1024

// longBudget bounds the bytes of long bodies a run's history keeps whole:
// the reads of a large set (a gossip node's thousands of messages) stay
// readable, while a run of many large answers cannot pin them all.
const longBudget = 64 << 20

// NewRecorder returns a recorder whose clock starts now.
func NewRecorder() *Recorder {
	r := &Recorder{start: time.Now()}
	r.long.Store(longBudget)
	return r
}

// Keep returns the body s as the history keeps it: whole if it is at most
// 8 KiB, or while the run's budget of long bodies (64 MiB) lasts;
// clipped (see Clip) after that.
func (r *Recorder) Keep(s string) string {
	if len(s) <= clipAt || r.long.Add(-int64(len(s))) >= 0 {
		return s
	}
	return Clip(s)
}

// Now returns the time since the recorder started, on the monotonic clock.
func (r *Recorder) Now() time.Duration { return time.Since(r.start) }

// Start returns the wall-clock time at which the recorder's clock started.
func (r *Recorder) Start() time.Time { return r.start }

// clipAt bounds the bodies an Op keeps: a longer body is kept as its first
// bytes and a digest of the whole, so that two equal bodies still compare
// equal and a large response does not pin its memory for the whole run.
const clipAt = 8 << 10

// Clip returns s, or for a body longer than 8 KiB its first bytes and a
// digest of the whole. Recorder.Keep clips only once a run's budget of
// long bodies is spent.
func Clip(s string) string {
	if len(s) <= clipAt {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%s… (%d bytes, sha256 %x)", s[:clipAt-128], len(s), sum[:12])
}

// Add records op. Its times must be on the recorder's clock (see Now).
func (r *Recorder) Add(op Op) {
	r.mu.Lock()
	if n := len(r.chunks); n == 0 || len(r.chunks[n-1]) == chunkLen {
		r.chunks = append(r.chunks, make([]Op, 0, chunkLen))
	}
	last := &r.chunks[len(r.chunks)-1]
	*last = append(*last, op)
	r.mu.Unlock()
}

// AddEvent records an event.
func (r *Recorder) AddEvent(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Len returns how many operations have been recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.chunks) == 0 {
		return 0
	}
	return (len(r.chunks)-1)*chunkLen + len(r.chunks[len(r.chunks)-1])
}

// History returns the operations and events recorded so far for which
// keep returns true (every one for a nil keep), sorted by invocation and
// by time.
func (r *Recorder) History(keepOp func(Op) bool, keepEvent func(Event) bool) History {
	r.mu.Lock()
	var h History
	for _, chunk := range r.chunks {
		for _, op := range chunk {
			if keepOp == nil || keepOp(op) {
				h.Ops = append(h.Ops, op)
			}
		}
	}
	for _, e := range r.events {
		if keepEvent == nil || keepEvent(e) {
			h.Events = append(h.Events, e)
		}
	}
	r.mu.Unlock()
	h.Sort()
	return h
}

// Ops returns the operations recorded so far for which keep returns true,
// in the order they were recorded: unsorted, and so cheaper than History.
func (r *Recorder) Ops(keep func(Op) bool) []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Op
	for _, chunk := range r.chunks {
		for _, op := range chunk {
			if keep(op) {
				out = append(out, op)
			}
		}
	}
	return out
}

// Sort orders the operations by invocation (then by client) and the events
// by time, keeping the order of equal ones.
func (h *History) Sort() {
	slices.SortStableFunc(h.Ops, func(a, b Op) int {
		if c := cmp.Compare(a.Invoke, b.Invoke); c != 0 {
			return c
		}
		return cmp.Compare(a.Client, b.Client)
	})
	slices.SortStableFunc(h.Events, func(a, b Event) int { return cmp.Compare(a.Time, b.Time) })
}

// Count returns how many operations had each outcome.
func (h History) Count() map[Outcome]int {
	n := map[Outcome]int{}
	for _, op := range h.Ops {
		n[op.Outcome]++
	}
	return n
}

// String describes an operation in one line:
// "client 2 on n3: PUT /kv/x "1" → 200 [1.203s–1.210s]".
func (op Op) String() string {
	var b strings.Builder
	if op.Client == NoClient {
		b.WriteString("test")
	} else {
		fmt.Fprintf(&b, "client %d", op.Client)
	}
	fmt.Fprintf(&b, " on %s: %s %s", op.Node, op.Method, op.Path)
	if op.Body != "" {
		fmt.Fprintf(&b, " %s", quote(op.Body))
	}
	switch {
	case op.Status != 0:
		fmt.Fprintf(&b, " → %d", op.Status)
		if op.Response != "" {
			fmt.Fprintf(&b, " %s", quote(op.Response))
		}
	case op.Error != "":
		fmt.Fprintf(&b, " → no answer (%s)", op.Error)
	default:
		b.WriteString(" → no answer")
	}
	fmt.Fprintf(&b, " [%s–%s, %s]", stamp(op.Invoke), stamp(op.Complete), op.Outcome)
	return b.String()
}

// quote shows a body in an operation's line, cut short if it is long.
func quote(s string) string {
	s = strings.TrimSuffix(s, "\n")
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return strconv.Quote(s)
}

// stamp renders a time of the run's clock: "1.203s".
func stamp(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}
