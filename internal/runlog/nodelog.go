package runlog

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/bytesize"
)

// NodeLog writes a node's output into its file, "<node>.log", within the
// run's disk quota. A nil *NodeLog writes nothing.
type NodeLog struct {
	mu   sync.Mutex // guards the fields below
	file *os.File
	w    *bufio.Writer
	disk *artifact.Quota // what the file may hold, with the run's other files
	full bool            // the quota stopped the file
}

// CreateNodeLog creates (or truncates) node's log file in dir.
func CreateNodeLog(dir, node string, disk *artifact.Quota) (*NodeLog, error) {
	f, err := os.Create(filepath.Join(dir, nodeFile(node)))
	if err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	return &NodeLog{file: f, w: bufio.NewWriter(f), disk: disk}, nil
}

// Write adds a line the node wrote at t on stream (Stdout or Stderr).
// Once the quota is reached the file ends with one line that says so.
func (l *NodeLog) Write(t time.Time, stream, text string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil || l.full {
		return
	}
	entry := nodeLine(t, stream, text)
	if !l.disk.Grow(l.file.Name(), int64(len(entry))) {
		// Said once, and not counted: the file grows by this line only.
		l.full = true
		entry = nodeLine(t, Stderr, fmt.Sprintf("[clstr: the run's files reached the disk limit (%s); the rest of this node's output is not kept: raise it with --max-disk]", bytesize.Format(l.disk.Limit)))
	}
	l.w.WriteString(entry)
	l.w.Flush()
}

// Close flushes and closes the file.
func (l *NodeLog) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.w.Flush()
	if cerr := l.file.Close(); err == nil {
		err = cerr
	}
	l.file = nil
	return err
}
