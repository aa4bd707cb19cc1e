package runlog

import (
	"fmt"
	"path/filepath"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/inroot"
)

// Dir is where a run writes its event log and node logs, under the
// directory it runs in. A run that starts a node replaces the logs of the
// run before; one that starts none (Docker unreachable, an image that
// does not build, Ctrl-C before the cluster) leaves them as they were.
const Dir = ".clstr/logs"

// PreviousDir holds the last run's logs while a new run starts.
const PreviousDir = ".clstr/logs.previous"

// Run is the log folder of one run.
type Run struct {
	root string
	// Events is the run's event log, in Dir.
	Events *cluster.EventLog
	// kept is set when the logs of the run before wait in PreviousDir.
	kept bool
}

// Start sets the last run's logs under root aside, makes Dir anew for a
// run and opens its event log. The run ends with Close.
func Start(root string) (*Run, error) {
	// Through no symbolic link: a .clstr that links elsewhere would
	// have the run delete and rewrite what it points at.
	kept, err := inroot.Aside(root, Dir, PreviousDir)
	if err != nil {
		return nil, fmt.Errorf("clear %s: %w", Dir, err)
	}
	events, err := OpenEvents(filepath.Join(root, Dir))
	if err != nil {
		if kept {
			inroot.Back(root, Dir, PreviousDir)
		}
		return nil, err
	}
	return &Run{root: root, Events: events, kept: kept}, nil
}

// Close closes the event log. A run that started no node has nothing to
// show: its folder goes, and the last run's logs go back in place. A run
// that did replaces them.
func (r *Run) Close() error {
	err := r.Events.Close()
	if err != nil {
		err = fmt.Errorf("write the event log: %w", err)
	}
	var derr error
	switch {
	case NodeStarted(r.Events):
		if r.kept {
			if derr = inroot.Remove(r.root, PreviousDir); derr != nil {
				derr = fmt.Errorf("remove the logs of the run before: %w", derr)
			}
		}
	case r.kept:
		if derr = inroot.Back(r.root, Dir, PreviousDir); derr != nil {
			derr = fmt.Errorf("put the logs of the run before back in %s: %w", Dir, derr)
		}
	default:
		if derr = inroot.Remove(r.root, Dir); derr != nil {
			derr = fmt.Errorf("remove %s, empty: %w", Dir, derr)
		}
	}
	if err == nil {
		err = derr
	}
	return err
}

// NodeStarted reports whether the event log holds an event of a node:
// the run got as far as starting its cluster.
func NodeStarted(events *cluster.EventLog) bool {
	for _, e := range events.Events() {
		if e.Node != "" {
			return true
		}
	}
	return false
}
