// Package artifact writes the files a run leaves for people to look at
// (the visualization of a failing history, the report) so that no link
// decides where they land and no run fills the disk.
//
// Every file is written whole into a temporary file made (O_EXCL) inside
// its directory, then renamed over its name: a link planted at the name is
// replaced, never followed, and a reader never sees half a file. The
// directory itself must be no link. A Quota counts the bytes the files of
// a run hold, each file once, at its latest size.
package artifact

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/clstr-dev/clstr/internal/atomicfile"
	"github.com/clstr-dev/clstr/internal/bytesize"
)

// Quota bounds the bytes the files of one run hold on disk. A file
// written again counts at its new size only. The zero Quota, and a nil
// one, bound nothing.
type Quota struct {
	// Limit is the most bytes the files may hold together; 0 is no limit.
	Limit int64
	// Flag names the flag that raises Limit, without dashes ("max-disk"),
	// for the error; "" when there is none.
	Flag string

	mu    sync.Mutex       // guards sizes and used
	sizes map[string]int64 // bytes each file holds, by absolute path
	used  int64
}

// Error says that writing a file would take a run's files past its
// quota.
type Error struct {
	Limit int64
	// File is the file that was not written; Want is what the run's
	// files would have held with it.
	File string
	Want int64
	Flag string
}

func (e *Error) Error() string {
	raise := "raise the run's disk limit"
	if e.Flag != "" {
		raise = "raise it with --" + e.Flag + " or pass --trust for a challenge you trust"
	}
	return fmt.Sprintf("limit: disk space (%s) exceeded: writing %s would make the run's files %s; %s",
		bytesize.Format(e.Limit), filepath.Base(e.File), bytesize.Format(e.Want), raise)
}

// Used returns the bytes the run's files hold.
func (q *Quota) Used() int64 {
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used
}

// Grow records that n more bytes are appended to path, a file written a
// piece at a time (a node's log), if the quota has room for them; it
// reports whether it had.
func (q *Quota) Grow(path string, n int64) bool {
	if q == nil || q.Limit <= 0 {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used+n > q.Limit {
		return false
	}
	if q.sizes == nil {
		q.sizes = map[string]int64{}
	}
	q.used += n
	q.sizes[path] += n
	return true
}

// room returns how many bytes path may hold; -1 for no bound.
func (q *Quota) room(path string) int64 {
	if q == nil || q.Limit <= 0 {
		return -1
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return max(0, q.Limit-(q.used-q.sizes[path]))
}

// set records that path holds n bytes.
func (q *Quota) set(path string, n int64) {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sizes == nil {
		q.sizes = map[string]int64{}
	}
	q.used += n - q.sizes[path]
	q.sizes[path] = n
}

// full is the error of path, which would have held more than room bytes.
func (q *Quota) full(path string, room int64) *Error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return &Error{Limit: q.Limit, File: path, Want: q.used - q.sizes[path] + room + 1, Flag: q.Flag}
}

// WriteFile replaces the file name in dir with what write writes, counted
// against q (nil for no quota), and returns its size. dir must be a
// directory and no link; it is made if missing. On any error, the file
// keeps what it held before. write gets a buffered writer and must not
// keep it.
func WriteFile(dir, name string, q *Quota, write func(io.Writer) error) (int64, error) {
	if name != filepath.Base(name) || name == "." || name == ".." {
		return 0, fmt.Errorf("%s is not a file name", name)
	}
	if err := realDir(dir); err != nil {
		return 0, err
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return 0, err
	}
	// The temporary file is made with O_CREATE|O_EXCL, which follows no
	// link.
	f, err := atomicfile.Create(filepath.Join(dir, name), 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Discard()
	cw := &countWriter{w: f, room: q.room(path)}
	bw := bufio.NewWriterSize(cw, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cw.full {
		err = q.full(path, cw.room)
	}
	if err == nil {
		// The directory may have been swapped for a link while the file
		// was written: check again right before the name appears.
		err = realDir(dir)
	}
	if err == nil {
		err = f.Commit()
	}
	if err != nil {
		return 0, err
	}
	q.set(path, cw.n)
	return cw.n, nil
}

// CopyFile copies the regular file src into dir as name, as WriteFile
// writes, refusing a src that is a link.
func CopyFile(src, dir, name string, q *Quota) (int64, error) {
	in, err := os.OpenFile(src, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	if st, err := in.Stat(); err != nil {
		return 0, err
	} else if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", src)
	}
	return WriteFile(dir, name, q, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// realDir makes dir if it is missing and refuses it if it is a link or
// not a directory.
func realDir(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		st, err = os.Lstat(dir)
	}
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link: clstr writes only into a directory of its own; remove the link", dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// countWriter counts what passes and refuses to pass more than room
// bytes (room < 0: no bound).
type countWriter struct {
	w    io.Writer
	n    int64
	room int64
	full bool
}

// errFull stops a write at the quota; WriteFile reports the quota.
var errFull = errors.New("disk quota reached")

func (c *countWriter) Write(p []byte) (int, error) {
	if c.room >= 0 && c.n+int64(len(p)) > c.room {
		c.full = true
		return 0, errFull
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
