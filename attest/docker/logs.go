package docker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/runlog"
)

// tailLines is how many of a node's latest output lines stay in memory for
// failure messages.
const tailLines = 200

// nodeLog collects a node's stdout and stderr across all its runs: into
// its file in the run's log folder, when there is one, and into a short
// in-memory tail.
type nodeLog struct {
	file *runlog.NodeLog // nil without a log folder

	mu   sync.Mutex // guards the fields below
	tail []string
	last time.Time // timestamp of the latest line, to resume after a restart
}

func openNodeLog(dir, name string, disk *artifact.Quota) (*nodeLog, error) {
	l := &nodeLog{}
	if dir == "" {
		return l, nil
	}
	f, err := runlog.CreateNodeLog(dir, name, disk)
	if err != nil {
		return nil, err
	}
	l.file = f
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
	l.file.Write(ts, stream, line)
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

func (l *nodeLog) close() error { return l.file.Close() }

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
			c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventLogsLost, Detail: err.Error()})
		}
		return
	}
	defer rc.Close()
	stdout, stderr := n.log.lineWriter(runlog.Stdout, cutoff), n.log.lineWriter(runlog.Stderr, cutoff)
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
