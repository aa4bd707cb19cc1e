package attest

import (
	"time"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// SetRecording switches the history's recording of requests on or off for
// the rest of the run, so that a benchmark can measure what it costs.
func SetRecording(d *Do, on bool) { d.r.unrecorded.Store(!on) }

// RecordCost returns how long recording one answer into the history
// takes, averaged over n answers.
func RecordCost(n int) float64 {
	r := &run{hist: history.NewRecorder()}
	d := &Do{r: r, test: "bench", client: 3}
	resp := &engine.Response{Node: "n1", Method: "PUT", Status: 200, Body: "ok"}
	body := []byte("value-1234")
	start := time.Now()
	for i := range n {
		d.record(resp, "/kv/key", body, time.Duration(i), time.Duration(i+1), false)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// MatchValue applies a matcher to a field as a check does.
var MatchValue = match

// RecordedOutcome records resp as one request of a client and returns the
// outcome the history gives it.
func RecordedOutcome(resp *engine.Response, resent bool) history.Outcome {
	r := &run{hist: history.NewRecorder()}
	d := &Do{r: r, test: "outcome", client: 1}
	d.record(resp, "/kv/key", []byte("v"), 1, 2, resent)
	return r.hist.History(nil, nil).Ops[0].Outcome
}
