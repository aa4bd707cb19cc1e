package report

import (
	"errors"
	"fmt"
	"io"

	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/session"
)

// Of is the report of a stage as it ended: one that ran, or an
// ErrorStage for one that could not. It reads the logs o names but
// copies nothing; logs says whether to link them.
func Of(o *session.Outcome, logs bool) (Stage, error) {
	if o.NotRun {
		return ErrorStage(o.Stage.Name(), o.Stage.TestNames(), o.Stopped, o.Result.Err), nil
	}
	return NewStage(stageRun(o, logs))
}

func stageRun(o *session.Outcome, logs bool) StageRun {
	in := StageRun{Name: o.Stage.Name(), Start: o.Started, Result: o.Result, Events: o.Events, Stopped: o.Stopped}
	if logs {
		in.LogDir = o.LogDir
	}
	return in
}

var _ session.Reporter = (*Writer)(nil)

// Stage implements session.Reporter: it adds the stage, and says on
// Stderr what of its logs it could not read or copy.
func (w *Writer) Stage(o *session.Outcome) {
	if o.NotRun {
		st, _ := Of(o, false)
		w.AddStage(st)
		return
	}
	if err := w.Add(stageRun(o, true)); err != nil {
		fmt.Fprintf(w.stderr(), "clstr: report: %v\n", err)
	}
}

// Flush implements session.Reporter: it saves the report, with the
// verdict that status says.
func (w *Writer) Flush(status int) int {
	verdict := map[int]string{session.Pass: "pass", session.Fail: "fail"}[status]
	if verdict == "" {
		verdict = "error"
	}
	if err := w.Save(verdict, status); err != nil {
		fmt.Fprintf(w.stderr(), "clstr: write the report into %s: %v\n", w.Dir, err)
		var full *artifact.Error
		if status == session.Pass || errors.As(err, &full) {
			return session.Error
		}
	}
	return status
}

func (w *Writer) stderr() io.Writer {
	if w.Stderr == nil {
		return io.Discard
	}
	return w.Stderr
}
