// Package atomicfile replaces a file whole: a reader, a crash of the
// process or a power loss finds the file as it was or as it was written,
// never half written.
//
// The new content goes into a temporary file made beside the file, with
// O_CREATE|O_EXCL so that no link planted at its name is followed; it is
// flushed to disk, then renamed over the file, and the directory is
// flushed so that the new name survives a power loss. A link at the
// file's own name is replaced, never followed.
package atomicfile

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is the new content of the file at a path while it is written.
type File struct {
	tmp       *os.File
	path      string
	perm      fs.FileMode
	committed bool
	unsynced  bool // Commit flushes nothing: see WriteFileUnsynced
}

// Create starts replacing the file at path, which gets the permissions
// perm. The caller writes the content to the File, then calls Commit;
// Discard, which may be deferred, drops it otherwise.
func Create(path string, perm fs.FileMode) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	return &File{tmp: tmp, path: path, perm: perm}, nil
}

// Write writes to the new content.
func (f *File) Write(p []byte) (int, error) { return f.tmp.Write(p) }

// Commit puts the new content at the path, durably. On an error the file
// keeps what it held, and the new content is dropped.
func (f *File) Commit() error {
	err := f.tmp.Chmod(f.perm)
	if err == nil && !f.unsynced {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return err
	}
	f.committed = true
	if f.unsynced {
		return nil
	}
	return syncDir(filepath.Dir(f.path))
}

// Discard drops the new content unless Commit put it in place.
func (f *File) Discard() {
	if f.committed {
		return
	}
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// WriteFile replaces the file at path with data, as Create and Commit do.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileUnsynced is WriteFile without the flushes: a crash of the
// process finds the old or the new content, but a crash of the machine
// may find neither. It is for files whose host outlives what they record,
// as the journal of a simulated power loss does (attest/docker/internal/durafs), where
// a flush on every change would cost the node it serves for nothing.
func WriteFileUnsynced(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Discard()
	f.unsynced = true
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// Write replaces the file at path with what write writes, as Create and
// Commit do; if write fails, the file keeps what it held.
func Write(path string, perm fs.FileMode, write func(io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Discard()
	if err := write(f); err != nil {
		return err
	}
	return f.Commit()
}
