package engine

import (
	"errors"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/history"
)

// TestStatus is what became of a test.
type TestStatus int

// The statuses of a test.
const (
	// TestNotRun: the run stopped before it (a failure, a setup or cluster
	// error, or cancellation).
	TestNotRun TestStatus = iota
	// TestPassed: it ran to the end.
	TestPassed
	// TestFailed: it stopped with an error.
	TestFailed
	// TestSkipped: RunOptions.Filter left it out.
	TestSkipped
)

// String returns "passed", "failed", "skipped" or "not run".
func (s TestStatus) String() string {
	switch s {
	case TestPassed:
		return "passed"
	case TestFailed:
		return "failed"
	case TestSkipped:
		return "skipped"
	}
	return "not run"
}

// TestResult is the result of one test.
type TestResult struct {
	Name     string
	Status   TestStatus
	Duration time.Duration
	// Err is why the test failed: usually a *Failure.
	Err error
}

// Result is the result of a run.
type Result struct {
	// Tests holds every test of the suite, in order.
	Tests []TestResult
	// Err is what stopped the run outside any test: an invalid
	// configuration, a cluster that did not start or become healthy
	// (a *cluster.TargetError when the target is to blame), a failed setup
	// step, or cancellation. Nil otherwise.
	Err error
	// CleanupErr is an error closing the cluster. It never replaces the
	// failure that came first.
	CleanupErr error
	// Duration is the time the whole run took, cluster start and
	// cleanup included.
	Duration time.Duration
	// History is every request the tests made and every fault they
	// injected, on the run's clock (see package history).
	History history.History
	// Seed is the seed the run drew from (RunOptions.Seed, or the one
	// picked for it).
	Seed uint64
}

// Passed reports whether the run got through setup and every test it ran
// passed. A cleanup error alone does not fail a run.
func (r *Result) Passed() bool {
	return r.Err == nil && r.FirstError() == nil
}

// FirstError returns the error that stopped the run: Err, or else the error
// of the failed test; nil if there is none.
func (r *Result) FirstError() error {
	if r.Err != nil {
		return r.Err
	}
	for _, t := range r.Tests {
		if t.Status == TestFailed {
			return t.Err
		}
	}
	return nil
}

// Verdict classifies a run for an exit status.
type Verdict int

// The verdicts of a run.
const (
	// VerdictPass: everything that ran passed.
	VerdictPass Verdict = iota
	// VerdictFail: the target failed a test, or did not start or become
	// healthy.
	VerdictFail
	// VerdictError: clstr could not judge the target: a bad configuration,
	// a runtime or environment error, or a cancelled run.
	VerdictError
)

// String returns "pass", "fail" or "error".
func (v Verdict) String() string {
	switch v {
	case VerdictPass:
		return "pass"
	case VerdictFail:
		return "fail"
	}
	return "error"
}

// Verdict tells whether the run passed, the target failed, or clstr could
// not judge.
func (r *Result) Verdict() Verdict {
	err := r.FirstError()
	switch {
	case err == nil:
		return VerdictPass
	case Blame(err):
		return VerdictFail
	}
	return VerdictError
}

// Blame reports whether err is the target's fault: a failed expectation, a
// test that panicked or called Fail, or a *cluster.TargetError. It is false
// for errors of clstr, its environment or the suite — runtime errors,
// cancellation, an invalid configuration, an unknown node name, an invalid
// impairment or argument, all marked as an *EnvError — after which nothing
// can be said about the target.
func Blame(err error) bool {
	var te *cluster.TargetError
	var ee *EnvError
	var sf ScriptFault
	switch {
	case errors.As(err, &sf):
		// The script's own error wins over a target error it wraps: the
		// test did not run as written, so it judged nothing.
		return false
	case errors.As(err, &te):
		return true
	case errors.As(err, &ee):
		return false
	}
	var f *Failure
	return errors.As(err, &f)
}

// ScriptFault is an error of the test itself, as a front end reports it:
// a script's type error, a misused builtin, a sandbox limit reached.
// Blame is false for any error that wraps one, whatever else it wraps.
type ScriptFault interface {
	error
	// ScriptFault says where in the test script the error is: "file:line"
	// or "file:line:col", or "" where no position is known.
	ScriptFault() (pos string)
}

// EnvError marks an error of clstr, its environment or the suite, not the
// target's: Blame is false for it, and an Eventually stops retrying at
// once when an attempt returns one.
type EnvError struct{ Err error }

// Error returns the message of Err.
func (e *EnvError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *EnvError) Unwrap() error { return e.Err }
