package main

import "github.com/clstr-dev/clstr/internal/runlog"

// logDir is where a run writes its event log and node logs, under the
// current directory; see runlog.Start.
const logDir = runlog.Dir
