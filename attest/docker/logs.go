package docker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/bytesize"
)

// tailLines is how many of a node's latest output lines stay in memory for
// failure messages.
const tailLines = 200

// nodeLog collects a node's stdout and stderr across all its runs: into a
// file "<node>.log" ("TIME stdout|stderr LINE") when the run has a log
// directory, and into a short in-memory tail.
type nodeLog struct {
	mu   sync.Mutex // guards the fields below
	file *os.File
	w    *bufio.Writer
	disk *artifact.Quota // what the file may hold, with the run's other files
	full bool            // the quota stopped the file
	tail []string
	last time.Time // timestamp of the latest line, to resume after a restart
}

func openNodeLog(dir, name string, disk *artifact.Quota) (*nodeLog, error) {
	l := &nodeLog{disk: disk}
	if dir == "" {
		return l, nil
	}
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	l.file, l.w = f, bufio.NewWriter(f)
	return l, nil
}

func (l *nodeLog) add(ts time.Time, stream, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts.After(l.last) {
		l.last = ts
	}
	l.tail = append(l.tail, line)
	if len(l.tail) > tailLines {
		l.tail = l.tail[len(l.tail)-tailLines:]
	}
	if l.w != nil && !l.full {
		entry := fmt.Sprintf("%s %s %s\n", ts.UTC().Format(time.RFC3339Nano), stream, line)
		if !l.disk.Grow(l.file.Name(), int64(len(entry))) {
			// Said once, and not counted: the file grows by this line only.
			l.full = true
			entry = fmt.Sprintf("%s stderr [clstr: the run's files reached the disk limit (%s); the rest of this node's output is not kept: raise it with --max-disk]\n",
				ts.UTC().Format(time.RFC3339Nano), bytesize.Format(l.disk.Limit))
		}
		l.w.WriteString(entry)
		l.w.Flush()
	}
}

func (l *nodeLog) lastTime() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (l *nodeLog) lastLines(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n > len(l.tail) {
		n = len(l.tail)
	}
	return append([]string(nil), l.tail[len(l.tail)-n:]...)
}

func (l *nodeLog) close() error {
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

// follow streams the container's output into the log until the container
// stops or ctx ends. Lines are read with Docker's timestamps, from just
// after the last line already logged, so restarts neither lose nor repeat
// output.
func (c *dockerCluster) follow(ctx context.Context, n *node) {
	since, cutoff := "", n.log.lastTime()
	if !cutoff.IsZero() {
		since = fmt.Sprintf("%d.%09d", cutoff.Unix(), cutoff.Nanosecond())
	}
	rc, err := c.rt.cli.ContainerLogs(ctx, n.containerID, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true, Since: since,
	})
	if err != nil {
		if ctx.Err() == nil {
			c.events.Add(n.name, "LOGS LOST: %v", err)
		}
		return
	}
	defer rc.Close()
	stdout, stderr := n.log.lineWriter("stdout", cutoff), n.log.lineWriter("stderr", cutoff)
	_, _ = stdcopy.StdCopy(stdout, stderr, rc)
	stdout.Close()
	stderr.Close()
}

// lineWriter splits Docker's timestamped output into lines for the log,
// dropping lines not after cutoff: those were logged before a restart.
func (l *nodeLog) lineWriter(stream string, cutoff time.Time) io.WriteCloser {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			ts, line, ok := strings.Cut(sc.Text(), " ")
			t, err := time.Parse(time.RFC3339Nano, ts)
			if !ok || err != nil {
				t, line = time.Now(), sc.Text()
			}
			if t.After(cutoff) {
				l.add(t, stream, line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return &waitCloser{pw, done}
}

type waitCloser struct {
	*io.PipeWriter
	done chan struct{}
}

func (w *waitCloser) Close() error {
	err := w.PipeWriter.Close()
	<-w.done
	return err
}
