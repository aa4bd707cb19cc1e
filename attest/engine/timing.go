package engine

// Timing says how often a check runs.
type Timing int

// The timings of a check.
const (
	// TimingOnce: one attempt, at once (the default).
	TimingOnce Timing = iota
	// TimingEventually: attempts until one passes or the timeout expires.
	TimingEventually
	// TimingConsistently: attempts until the timeout expires; all must pass.
	TimingConsistently
)

// String returns "once", "eventually" or "consistently".
func (t Timing) String() string {
	switch t {
	case TimingEventually:
		return "eventually"
	case TimingConsistently:
		return "consistently"
	}
	return "once"
}

// Permanent wraps err so that attest's Do.Eventually, when the function
// it retries returns it, stops retrying at once and fails with err. Errors
// of the environment (*EnvError) and cancellation of the run stop it the
// same way without being wrapped.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{err}
}

// PermanentError is an error wrapped with Permanent.
type PermanentError struct{ Err error }

// Error returns the message of Err.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *PermanentError) Unwrap() error { return e.Err }
