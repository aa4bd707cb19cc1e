package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/internal/artifact"
)

// The files a report directory holds.
const (
	JSONFile = "report.json"
	HTMLFile = "index.html"
)

// visualizationGlob matches the files a run writes into its log directory
// to show a failing history: "linearizability-<test>.html".
const visualizationGlob = "linearizability-*.html"

// Writer keeps the report of a command and writes it into Dir after each
// stage, whole, so that the directory always holds every stage that
// finished.
type Writer struct {
	Dir    string
	Report Report
	// Quota, if not nil, bounds the bytes of the report's files, with
	// whatever else of the run it counts.
	Quota *artifact.Quota
	// Stderr is where a Writer used as a session.Reporter says what it
	// could not write; nil for nowhere.
	Stderr io.Writer
	// full is the quota's error if copying a file reached it.
	full error
}

// NewWriter returns a writer of a report into dir for the command line
// command, which runs target.
func NewWriter(dir, command, target string) *Writer {
	return &Writer{Dir: dir, Report: Report{
		Schema: Schema, Version: Version,
		Run:    Run{Command: command, Target: target},
		Stages: []Stage{},
	}}
}

// Add adds a stage that ran, and copies the visualizations its run wrote
// into the report's directory, linking each from the failing test it
// shows. An error reading the logs or copying a file is returned, and the
// stage is added anyway with what could be read.
func (w *Writer) Add(in StageRun) error {
	st, err := NewStage(in)
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("read the logs: %w", err))
	}
	if in.LogDir != "" {
		if err := w.copyVisualizations(&st, in.LogDir); err != nil {
			errs = append(errs, err)
		}
	}
	w.add(st)
	return errors.Join(errs...)
}

// ErrorStage is the report of a stage that could not run at all because
// of err, with its tests as not run; stopped says what stopped it.
func ErrorStage(name string, tests []string, stopped string, err error) Stage {
	st := Stage{
		Name: name, Started: time.Now().UTC(), Stopped: stopped, Error: NewFailure(err),
		Nodes: []Node{}, Tests: []Test{}, Events: []Event{}, Faults: []Fault{}, Leaders: []Leader{}, Logs: []LogLine{},
	}
	st.Verdict = st.Error.Verdict
	for _, t := range tests {
		st.Tests = append(st.Tests, Test{Name: t, Status: "not run"})
	}
	return st
}

// AddStage adds a stage built by the caller, such as an ErrorStage.
func (w *Writer) AddStage(st Stage) { w.add(st) }

func (w *Writer) add(st Stage) {
	r := &w.Report
	if len(r.Stages) == 0 {
		r.Run.Started = st.Started
	}
	r.Stages = append(r.Stages, st)
	if st.Seed != "" {
		r.Run.Seed = st.Seed
	}
	r.Run.Duration += st.Duration
}

// copyVisualizations copies the visualizations in logDir beside the
// report and links them from the stage and its failing tests.
func (w *Writer) copyVisualizations(st *Stage, logDir string) error {
	files, err := filepath.Glob(filepath.Join(logDir, visualizationGlob))
	if err != nil || len(files) == 0 {
		return err
	}
	if err := w.checkDir(); err != nil {
		return err
	}
	var errs []error
	for _, src := range files {
		name := filepath.Base(src)
		if _, err := artifact.CopyFile(src, w.Dir, name, w.Quota); err != nil {
			var full *artifact.Error
			if errors.As(err, &full) && w.full == nil {
				w.full = err
			}
			errs = append(errs, fmt.Errorf("copy %s: %w", src, err))
			continue
		}
		st.Visualizations = append(st.Visualizations, name)
	}
	linkVisualizations(st)
	return errors.Join(errs...)
}

// linkVisualizations links each failing test to the visualization its
// failure names, or, when one test failed and there is one
// visualization, to that one.
func linkVisualizations(st *Stage) {
	var failed []*Failure
	for i := range st.Tests {
		if f := st.Tests[i].Failure; f != nil {
			failed = append(failed, f)
		}
	}
	for _, f := range failed {
		for _, v := range st.Visualizations {
			if strings.Contains(f.Text, v) {
				f.Visualization = v
			}
		}
	}
	if len(failed) == 1 && len(st.Visualizations) == 1 && failed[0].Visualization == "" {
		failed[0].Visualization = st.Visualizations[0]
	}
}

// Save writes report.json and index.html into Dir, each through a
// temporary file renamed over the old one, so that a reader never sees
// half a report and a link planted at either name is replaced, not
// followed. verdict and exitStatus are the command's so far. Both files
// are written a piece at a time, never whole in memory.
func (w *Writer) Save(verdict string, exitStatus int) (err error) {
	w.Report.Run.Verdict, w.Report.Run.ExitStatus = verdict, exitStatus
	if err := w.checkDir(); err != nil {
		return err
	}
	if w.full != nil {
		// The report is written all the same, with what fitted; the
		// command fails with the limit.
		defer func() {
			if err == nil {
				err = w.full
			}
		}()
	}
	if _, err := artifact.WriteFile(w.Dir, JSONFile, w.Quota, func(out io.Writer) error {
		return encodeReport(out, &w.Report)
	}); err != nil {
		return err
	}
	_, err = artifact.WriteFile(w.Dir, HTMLFile, w.Quota, func(out io.Writer) error {
		return WriteHTML(out, &w.Report)
	})
	return err
}

// checkDir refuses a Dir that is a file.
func (w *Writer) checkDir() error {
	if st, err := os.Stat(w.Dir); err == nil && !st.IsDir() {
		return fmt.Errorf("%s is a file; --report needs a directory", w.Dir)
	}
	return nil
}
