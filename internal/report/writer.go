package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
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
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, src := range files {
		name := filepath.Base(src)
		if err := copyFile(src, filepath.Join(w.Dir, name)); err != nil {
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

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Save writes report.json and index.html into Dir, each through a
// temporary file renamed over the old one, so that a reader never sees
// half a report. verdict and exitStatus are the command's so far.
func (w *Writer) Save(verdict string, exitStatus int) error {
	w.Report.Run.Verdict, w.Report.Run.ExitStatus = verdict, exitStatus
	if st, err := os.Stat(w.Dir); err == nil && !st.IsDir() {
		return fmt.Errorf("%s is a file; --report needs a directory", w.Dir)
	}
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(&w.Report, "", " ")
	if err != nil {
		return fmt.Errorf("encode the report: %w", err)
	}
	if err := writeFile(filepath.Join(w.Dir, JSONFile), append(data, '\n')); err != nil {
		return err
	}
	page, err := HTML(&w.Report)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(w.Dir, HTMLFile), page)
}

// writeFile replaces the file at path with data at once.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
