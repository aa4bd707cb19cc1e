package main

import (
	"fmt"
	"path/filepath"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/inroot"
)

// logDir is where a run writes its event log and node logs, under the
// current directory. A run that starts a node replaces the logs of the run
// before; one that starts none (Docker unreachable, an image that does not
// build, Ctrl-C before the cluster) leaves them as they were.
const logDir = ".clstr/logs"

// previousLogDir holds the last run's logs while a new run starts.
const previousLogDir = ".clstr/logs.previous"

// runLogs is the log directory of one run.
type runLogs struct {
	events *cluster.EventLog
	// kept is set when the logs of the run before wait in previousLogDir.
	kept bool
}

// freshLogDir sets the last run's logs aside, makes the log directory
// anew for a run and opens its event log. The run ends with close.
func freshLogDir() (*runLogs, error) {
	// Through no symbolic link: a .clstr that links elsewhere would
	// have the run delete and rewrite what it points at.
	kept, err := inroot.Aside(".", logDir, previousLogDir)
	if err != nil {
		return nil, fmt.Errorf("clear %s: %w", logDir, err)
	}
	events, err := cluster.OpenEventLog(filepath.Join(logDir, "events.log"))
	if err != nil {
		if kept {
			inroot.Back(".", logDir, previousLogDir)
		}
		return nil, err
	}
	return &runLogs{events: events, kept: kept}, nil
}

// close closes the event log. A run that started no node has nothing to
// show: its directory goes, and the last run's logs go back in place for
// 'clstr logs'. A run that did replaces them.
func (l *runLogs) close() error {
	err := l.events.Close()
	if err != nil {
		err = fmt.Errorf("write the event log: %w", err)
	}
	var derr error
	switch {
	case nodeStarted(l.events):
		if l.kept {
			if derr = inroot.Remove(".", previousLogDir); derr != nil {
				derr = fmt.Errorf("remove the logs of the run before: %w", derr)
			}
		}
	case l.kept:
		if derr = inroot.Back(".", logDir, previousLogDir); derr != nil {
			derr = fmt.Errorf("put the logs of the run before back in %s: %w", logDir, derr)
		}
	default:
		if derr = inroot.Remove(".", logDir); derr != nil {
			derr = fmt.Errorf("remove %s, empty: %w", logDir, derr)
		}
	}
	if err == nil {
		err = derr
	}
	return err
}

// nodeStarted reports whether the event log holds an event of a node:
// the run got as far as starting its cluster.
func nodeStarted(events *cluster.EventLog) bool {
	for _, e := range events.Events() {
		if e.Node != "" {
			return true
		}
	}
	return false
}
