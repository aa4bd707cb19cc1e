package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/junit"
	"github.com/clstr-dev/clstr/internal/junit/junittest"
	"github.com/clstr-dev/clstr/internal/report"
	"github.com/clstr-dev/clstr/internal/runlog"
	"github.com/clstr-dev/clstr/internal/session"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
)

// interruption is the cause a signal gives, as the command's handler
// gives it.
type interruption struct{ sig os.Signal }

func (i *interruption) Error() string     { return "SIGINT" }
func (i *interruption) Signal() os.Signal { return i.sig }

// TestEveryPathReportsOnce runs a stage that passes, one that fails, one
// that does not load, one whose runtime does not start and one that a
// signal interrupts, each in a session of its own as a command does, and
// checks that each leaves exactly one entry in the JUnit report and one
// stage in the HTML report, both with the verdict the exit status says.
func TestEveryPathReportsOnce(t *testing.T) {
	// cancel is the signal handler's: the interrupted stage signals
	// itself from inside its test.
	var cancel context.CancelCauseFunc
	tests := []struct {
		name      string
		stage     session.Stage
		noRuntime bool
		load      error // the stage did not load: recorded with NotRun
		status    int
		verdict   string // of the reports: "pass", "fail", "error"
		signal    os.Signal
	}{
		{name: "passes", status: session.Pass, verdict: "pass",
			stage: session.Challenge{Key: "kv/writes", Tests: attest.New().Test("writes", func(do *attest.Do) {
				do.PUT(attest.Node("n1"), "/kv/a", "1").Status(attest.Is(200)).Run()
			})}},
		{name: "fails", status: session.Fail, verdict: "fail",
			stage: session.Challenge{Key: "kv/reads", Tests: attest.New().Test("reads", func(do *attest.Do) {
				do.GET(attest.Node("n1"), "/kv/none").Status(attest.Is(200)).Run()
			}).Test("after", func(do *attest.Do) {})}},
		{name: "does not load", status: session.Error, verdict: "error",
			stage: session.Unloaded{Key: "bad.star"}, load: errors.New("bad.star:3:8: got ':', want ')'")},
		{name: "runtime does not start", status: session.Error, verdict: "error", noRuntime: true,
			stage: session.Challenge{Key: "kv/writes", Tests: attest.New().Test("writes", func(do *attest.Do) {})}},
		{name: "interrupted", status: session.Error, verdict: "error", signal: os.Interrupt,
			stage: session.Challenge{Key: "kv/slow", Tests: attest.New().Test("waits", func(do *attest.Do) {
				cancel(&interruption{os.Interrupt})
				do.GET(attest.Node("n1"), "/sleep/10s").Status(attest.Is(200)).Run()
			})}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			jpath := filepath.Join(dir, "junit.xml")
			rw := report.NewWriter(filepath.Join(dir, "report"), "clstr test", "fake target")
			target := starlarktest.New().Runtime
			opened, closed := 0, 0
			s := session.Open(session.Options{
				Runtime: func(context.Context) (cluster.Runtime, func() error, error) {
					opened++
					if tc.noRuntime {
						return nil, nil, errors.New("cannot reach the Docker daemon")
					}
					return target, func() error { closed++; return nil }, nil
				},
				Root:      dir,
				Reporters: []session.Reporter{junit.New(jpath, t.Output()), rw},
				Stderr:    t.Output(),
				Signals: func(c context.CancelCauseFunc) func() {
					cancel = c
					return func() {}
				},
			})
			var o *session.Outcome
			if tc.load != nil {
				o = s.NotRun(tc.stage, "the script did not load", tc.load)
			} else {
				o = s.Run(context.Background(), tc.stage)
			}
			status := s.Close()
			if status != tc.status || o.Status != tc.status {
				t.Errorf("exit status %d, the stage's %d; want %d", status, o.Status, tc.status)
			}
			if o.Interrupted != tc.signal {
				t.Errorf("interrupted by %v; want %v", o.Interrupted, tc.signal)
			}
			if tc.load == nil && (opened != 1 || closed != opened-btoi(tc.noRuntime)) {
				t.Errorf("the runtime opened %d times and closed %d; want once and as often", opened, closed)
			}

			doc := junittest.Read(t, jpath)
			if len(doc.Suites) != 1 || doc.Suites[0].Name != lastPart(tc.stage.Name()) {
				t.Fatalf("JUnit suites %+v; want one for %s", doc.Suites, tc.stage.Name())
			}
			if got := junitVerdict(doc); got != tc.verdict {
				t.Errorf("JUnit says %s (%d failures, %d errors); want %s", got, doc.Failures, doc.Errors, tc.verdict)
			}

			var got report.Report
			data, err := os.ReadFile(filepath.Join(rw.Dir, report.JSONFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Stages) != 1 || got.Stages[0].Name != tc.stage.Name() {
				t.Fatalf("report stages %d; want one for %s", len(got.Stages), tc.stage.Name())
			}
			if got.Stages[0].Verdict != tc.verdict || got.Run.Verdict != tc.verdict || got.Run.ExitStatus != tc.status {
				t.Errorf("report: stage %s, run %s with exit status %d; want %s, %s, %d",
					got.Stages[0].Verdict, got.Run.Verdict, got.Run.ExitStatus, tc.verdict, tc.verdict, tc.status)
			}
			// Only a stage that started a node replaces the last logs.
			if _, err := os.Stat(filepath.Join(dir, runlog.Dir, "events.log")); (err == nil) != (tc.load == nil && !tc.noRuntime) {
				t.Errorf("events.log: %v", err)
			}
		})
	}
}

// TestReportWriteFails checks that a report that cannot be written turns
// a pass into Error, in the exit status and the outcome alike.
func TestReportWriteFails(t *testing.T) {
	dir := t.TempDir()
	target := starlarktest.New().Runtime
	s := session.Open(session.Options{
		Runtime:   func(context.Context) (cluster.Runtime, func() error, error) { return target, nil, nil },
		Reporters: []session.Reporter{junit.New(dir, t.Output())}, // a directory
	})
	o := s.Run(context.Background(), session.Challenge{Key: "kv/ok", Tests: attest.New().Test("ok", func(*attest.Do) {})})
	if o.Verdict != engine.VerdictPass || o.Status != session.Error || s.Close() != session.Error {
		t.Errorf("verdict %v, status %d; want a pass that ends in %d", o.Verdict, o.Status, session.Error)
	}
}

// junitVerdict judges a report as the exit status does.
func junitVerdict(doc junittest.Suites) string {
	switch {
	case doc.Errors > 0:
		return "error"
	case doc.Failures > 0:
		return "fail"
	}
	return "pass"
}

// lastPart is the suite's name of a stage: its key, after the challenge's.
func lastPart(name string) string {
	_, key, ok := strings.Cut(name, "/")
	if !ok {
		return name
	}
	return key
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
