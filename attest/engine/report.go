package engine

import "time"

// Reporter is told about a run as it goes, for live output. The engine
// calls it from one goroutine at a time, though not always the same one,
// and waits for each call to return, so calls should be quick.
type Reporter interface {
	// Step reports progress outside the tests: "starting 3 node(s)",
	// "waiting for GET /health", "setup", "closing the cluster".
	Step(text string)
	// TestStarted reports that a test begins.
	TestStarted(name string)
	// TestFinished reports a test's result: passed or failed, with its
	// duration and error. Skipped and not-run tests are not reported
	// here; they are in the Result.
	TestFinished(r TestResult)
	// Waiting reports, after each attempt of an Eventually or
	// Consistently that is not done yet, what is being waited for and how
	// much time is left.
	Waiting(w Wait)
}

// Wait describes an Eventually or Consistently in progress.
type Wait struct {
	// Test is the running test.
	Test string
	// Pos is the source position of the check or the call.
	Pos string
	// What is being waited for: a check ("GET /cluster/info on
	// all_nodes()") or "eventually"/"consistently" for a function.
	What   string
	Timing Timing
	// Elapsed is the time since the first attempt; Timeout the time
	// allowed.
	Elapsed time.Duration
	Timeout time.Duration
	// Last is why the last attempt of an Eventually failed; nil for
	// Consistently.
	Last error
}

// Left returns the time left before the timeout.
func (w Wait) Left() time.Duration { return max(0, w.Timeout-w.Elapsed) }
