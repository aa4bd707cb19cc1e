// Package inroot opens the files of a challenge, a script or a log
// directory without following a symbolic link out of the directory they
// belong to (os.Root), so that a stage.star that links to ../.env, or a
// .clstr that links elsewhere, is refused rather than read or rewritten.
package inroot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrEscapes is in the error of a path that leads out of its root.
var ErrEscapes = errors.New("it leads out of its directory through a symbolic link")

// ReadFile reads the regular file at path, which must lie inside the
// directory root (root "" means path's own directory), through no link
// that leaves root. A device, a pipe or a directory is refused; max > 0
// refuses a file longer than max bytes.
func ReadFile(root, path string, max int64) ([]byte, error) {
	r, rel, err := open(root, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// The check below refuses a named pipe; readOnly does not wait for
	// its writer.
	f, err := r.OpenFile(rel, readOnly, 0)
	if err != nil {
		return nil, explain(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if max > 0 && st.Size() > max {
		return nil, fmt.Errorf("%d bytes: at most %d allowed", st.Size(), max)
	}
	if max > 0 {
		data, err := io.ReadAll(io.LimitReader(f, max+1))
		if err == nil && int64(len(data)) > max {
			return nil, fmt.Errorf("more than %d bytes: at most %d allowed", max, max)
		}
		return data, err
	}
	return io.ReadAll(f)
}

// open opens root (path's directory if "") and returns path relative to
// it.
func open(root, path string) (*os.Root, string, error) {
	if root == "" {
		root = filepath.Dir(path)
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, "", err
	}
	absPath, err := filepath.Abs(path)
	if err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(absRoot, absPath)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, "", fmt.Errorf("%s is outside %s", path, root)
	}
	r, err := os.OpenRoot(absRoot)
	if err != nil {
		return nil, "", err
	}
	return r, rel, nil
}

// explain turns os.Root's refusal of a path that escapes into ErrEscapes.
func explain(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent" {
		return ErrEscapes
	}
	return err
}

// Dir is a directory under root, made and emptied through root without
// following a link out of it: a log directory.
//
// Fresh removes dir (a path relative to root) and everything in it, and
// makes it again, empty. A component of dir that is a symbolic link is
// refused, even one that stays inside root: nothing clstr writes should
// land where a link points.
func Fresh(root, dir string) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	p := ""
	for _, part := range splitPath(dir) {
		p = filepath.Join(p, part)
		st, err := r.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return explain(err)
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link: clstr writes its logs only to a directory of its own; remove the link", p)
		}
	}
	if err := r.RemoveAll(dir); err != nil {
		return explain(err)
	}
	return explain(r.MkdirAll(dir, 0o755))
}

func splitPath(p string) []string {
	var parts []string
	for p != "" && p != "." && p != string(filepath.Separator) {
		dir, file := filepath.Split(filepath.Clean(p))
		parts = append([]string{file}, parts...)
		p = filepath.Clean(dir)
		if dir == "" {
			break
		}
	}
	return parts
}

// FS returns the files of the directory dir as an fs.FS that follows no
// symbolic link out of dir: os.DirFS, confined.
func FS(dir string) fs.FS { return rootFS(dir) }

type rootFS string

func (d rootFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	r, err := os.OpenRoot(string(d))
	if err != nil {
		return nil, err
	}
	// A file stays open after its root is closed.
	defer r.Close()
	f, err := r.OpenFile(filepath.FromSlash(name), readOnly, 0)
	if err != nil {
		return nil, explain(err)
	}
	return f, nil
}
