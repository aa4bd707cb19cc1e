package runlog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Reader reads the log files of a run's folder a piece at a time: each
// Read returns the whole lines written since the last, so the same reader
// serves a one-off listing and a follow.
type Reader struct {
	dir   string
	nodes []string // only these nodes' lines and events; nil for all
	files map[string]*fileReader
	seen  map[string]bool // nodes that have a log file or an event
	// newRun is set when a read finds the event log of a run after the
	// one it read before.
	newRun bool
}

// fileReader is where a Reader is in one file.
type fileReader struct {
	offset  int64
	partial []byte // a last line not yet ended
	// info is the file as last read, to notice a new run's file;
	// restarted says that one was noticed.
	info      fs.FileInfo
	restarted bool
}

// NewReader returns a reader of the logs in dir that keeps the lines of
// nodes (all when nodes is empty) and the cluster's events.
func NewReader(dir string, nodes []string) *Reader {
	return &Reader{dir: dir, nodes: nodes, files: map[string]*fileReader{}, seen: map[string]bool{}}
}

// wanted reports whether lines of node (or "" for the cluster) are kept.
func (r *Reader) wanted(node string) bool {
	return node == "" || len(r.nodes) == 0 || slices.Contains(r.nodes, node)
}

// Read returns the new whole lines of every log file, in time order; lines
// of the same time keep the order of their file. A file that shrank or was
// replaced (a new run) is read from its start. A line out of format is
// kept as it is, at the time of the line before it.
func (r *Reader) Read() ([]Line, error) {
	files, err := Files(r.dir)
	if err != nil {
		return nil, err
	}
	var out []Line
	var errs []error
	for _, f := range files {
		fr, ok := r.files[f.Path]
		if !ok {
			fr = &fileReader{}
			r.files[f.Path] = fr
		}
		if !f.IsEvents() {
			r.seen[f.Node] = true
			if !r.wanted(f.Node) {
				continue
			}
		}
		lines, err := fr.readNew(f.Path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if fr.restarted && f.IsEvents() {
			r.newRun = true
		}
		fr.restarted = false
		for _, raw := range lines {
			l, err := f.Parse(raw)
			if err != nil {
				var last time.Time
				if n := len(out); n > 0 {
					last = out[n-1].Time
				}
				l = f.Unparsed(raw, last)
			}
			if l.IsEvent() && l.Node != "" {
				r.seen[l.Node] = true
			}
			if r.wanted(l.Node) {
				out = append(out, l)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, errors.Join(errs...)
}

// NewRun reports whether a read since the last call found the logs of a
// run after the one read before.
func (r *Reader) NewRun() bool {
	n := r.newRun
	r.newRun = false
	return n
}

// readNew returns the whole lines added to the file at p since the last
// call.
func (fr *fileReader) readNew(p string) ([]string, error) {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		fr.offset, fr.partial = 0, nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fr.info != nil && !os.SameFile(fr.info, st) || st.Size() < fr.offset {
		// A new run recreated the directory, or the file was cut short.
		fr.offset, fr.partial = 0, nil
		fr.restarted = true
	}
	fr.info = st
	if st.Size() == fr.offset {
		return nil, nil
	}
	fh, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer fh.Close()
	if _, err := fh.Seek(fr.offset, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, st.Size()-fr.offset))
	if err != nil {
		return nil, err
	}
	fr.offset += int64(len(data))
	data = append(fr.partial, data...)
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		fr.partial = data
		return nil, nil
	}
	fr.partial = append([]byte(nil), data[end+1:]...)
	var lines []string
	for _, l := range strings.Split(string(data[:end]), "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// Known returns the nodes the logs have, in order.
func (r *Reader) Known() []string {
	var ns []string
	for n := range r.seen {
		ns = append(ns, n)
	}
	slices.SortFunc(ns, CompareNodes)
	return ns
}

// Missing returns the nodes asked for that the logs do not have.
func (r *Reader) Missing() []string {
	var ms []string
	for _, n := range r.nodes {
		if !r.seen[n] {
			ms = append(ms, n)
		}
	}
	return ms
}

// Follow reads the logs of dir and then, every poll, the lines added
// since, handing each batch to show, until ctx ends. newRun says that the
// batch starts the logs of a run after the last one shown.
func Follow(ctx context.Context, dir string, nodes []string, poll time.Duration, show func(newRun bool, lines []Line) error) error {
	r := NewReader(dir, nodes)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		lines, err := r.Read()
		if err != nil {
			return err
		}
		if newRun := r.NewRun(); newRun || len(lines) > 0 {
			if err := show(newRun, lines); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
