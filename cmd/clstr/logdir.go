package main

import "github.com/clstr-dev/clstr/internal/runlog"

// logDir is where a run writes its event log and node logs, under the
// current directory; see runlog.Start.
const logDir = runlog.Dir

// freshLogDir sets the last run's logs aside, makes the log directory
// anew for a run and opens its event log. The run ends with Close.
func freshLogDir() (*runlog.Run, error) { return runlog.Start(".") }
