package inroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Aside moves the directory dir (a path relative to root) to aside,
// replacing whatever aside held, and makes dir again, empty; it reports
// whether there was a dir to move. Back undoes it. As with Fresh, a
// component of either path that is a symbolic link is refused.
func Aside(root, dir, aside string) (moved bool, err error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return false, err
	}
	defer r.Close()
	for _, p := range []string{dir, aside} {
		if err := noLink(r, p); err != nil {
			return false, err
		}
	}
	if err := r.RemoveAll(aside); err != nil {
		return false, explain(err)
	}
	switch st, err := r.Lstat(dir); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return false, explain(err)
	case st.IsDir():
		if err := r.Rename(dir, aside); err != nil {
			return false, explain(err)
		}
		moved = true
	default:
		if err := r.RemoveAll(dir); err != nil {
			return false, explain(err)
		}
	}
	return moved, explain(r.MkdirAll(dir, 0o755))
}

// Back removes dir and moves aside back in its place.
func Back(root, dir, aside string) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, p := range []string{dir, aside} {
		if err := noLink(r, p); err != nil {
			return err
		}
	}
	if err := r.RemoveAll(dir); err != nil {
		return explain(err)
	}
	return explain(r.Rename(aside, dir))
}

// noLink refuses a path inside r of which a component is a symbolic link.
func noLink(r *os.Root, path string) error {
	p := ""
	for _, part := range splitPath(path) {
		p = filepath.Join(p, part)
		st, err := r.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return explain(err)
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link: clstr writes its logs only to a directory of its own; remove the link", p)
		}
	}
	return nil
}

// Remove removes dir and everything in it, refusing a path of which a
// component is a symbolic link.
func Remove(root, dir string) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := noLink(r, dir); err != nil {
		return err
	}
	return explain(r.RemoveAll(dir))
}
