package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/clstr-dev/clstr/attest/cluster"
)

func TestVerdict(t *testing.T) {
	failure := &Failure{Test: "t", Problem: "expected status is 200, got 503"}
	tests := []struct {
		name    string
		res     Result
		verdict Verdict
	}{
		{"all passed", Result{Tests: []TestResult{{Status: TestPassed}, {Status: TestSkipped}}}, VerdictPass},
		{"a failed check", Result{Tests: []TestResult{{Status: TestPassed}, {Status: TestFailed, Err: failure}}}, VerdictFail},
		{"a panic", Result{Tests: []TestResult{{Status: TestFailed, Err: &Failure{Err: &PanicError{Value: "boom"}}}}}, VerdictFail},
		{"an unhealthy target", Result{Err: fmt.Errorf("start: %w", &cluster.TargetError{Err: errors.New("no answer")})}, VerdictFail},
		{"an error of clstr", Result{Err: &EnvError{errors.New("docker: no daemon")}}, VerdictError},
		{"an error of clstr inside a failure", Result{Tests: []TestResult{{Status: TestFailed, Err: &Failure{Err: &EnvError{errors.New("no node named n9")}}}}}, VerdictError},
		{"cancellation", Result{Err: context.Canceled}, VerdictError},
		{"the script's error", Result{Tests: []TestResult{{Status: TestFailed, Err: &Failure{Err: scriptFault{}}}}}, VerdictError},
		{"the script's error around the target's", Result{Tests: []TestResult{{Status: TestFailed, Err: &Failure{Err: scriptFault{&cluster.TargetError{Err: errors.New("no answer")}}}}}}, VerdictError},
		{"a cleanup error alone", Result{CleanupErr: errors.New("close cluster")}, VerdictPass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.res.Verdict(); got != tc.verdict {
				t.Errorf("Verdict() = %v, want %v (first error: %v)", got, tc.verdict, tc.res.FirstError())
			}
			if got, want := tc.res.Passed(), tc.verdict == VerdictPass; got != want {
				t.Errorf("Passed() = %v, want %v", got, want)
			}
		})
	}
}

// scriptFault is an error of a test script, as a front end marks one.
type scriptFault struct{ err error }

func (e scriptFault) Error() string       { return "s.star:3:5: got int, want string" }
func (e scriptFault) Unwrap() error       { return e.err }
func (e scriptFault) ScriptFault() string { return "s.star:3:5" }
