// Package history records what the clients of a test did, operation by
// operation, and checks whole histories against a model.
//
// A History is engine data: attest records every request a test makes
// (checks, fetches, the requests of Do.Clients) as an Op, and every fault
// the test injects as an Event, with times on one monotonic clock that
// starts with the run. Go suites and Starlark stages see the same values.
package history

import (
	"sync"
	"time"
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
	// Text reads as in the event log: "KILL", "PARTITIONED: n1 n2 | n3 n4 n5".
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

	mu     sync.Mutex // guards ops and events
	ops    []Op
	events []Event
}

// NewRecorder returns a recorder whose clock starts now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now returns the time since the recorder started, on the monotonic clock.
func (r *Recorder) Now() time.Duration { return time.Since(r.start) }

// Start returns the wall-clock time at which the recorder's clock started.
func (r *Recorder) Start() time.Time { return r.start }
