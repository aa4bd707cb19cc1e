//go:build linux

package durafs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Work areas of a restore, in the journal directory. The restore builds
// the durable tree in stage (links to the existing files, new
// directories), then swaps it in: the backing directory's entries move to
// old, stage's entries move into the backing directory. The swap file
// names the step under way, so a restore cut short by a kill finishes on
// the next attempt.
const (
	stageDir = "stage"
	oldDir   = "old"
	swapFile = "swap"
)

// Replay brings the backing directory to its durable state as recorded in
// the journal directory, as after a power loss, and empties the journal.
// The file system must not be mounted. An empty journal changes nothing.
func Replay(backing, journalDir string) error {
	j, err := openJournal(journalDir)
	if err != nil {
		return err
	}
	return j.restore(backing)
}

// Sync declares everything in the backing directory durable, as a clean
// shutdown does, by emptying the journal. A restore cut short is finished
// first: its power loss has happened.
func Sync(journalDir string) error {
	j, err := openJournal(journalDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(journalDir, swapFile)); err == nil {
		return fmt.Errorf("the journal %s holds an unfinished power loss: replay it with the backing directory first", journalDir)
	}
	return j.clear()
}

// errStopped is the error of a restore stopped by journal.stopAfter.
var errStopped = errors.New("restore stopped before its end")

// object is something found in the backing tree or among the kept.
type object struct {
	path string
	st   unix.Stat_t
}

// restore brings root to the durable state and empties the journal.
func (j *journal) restore(root string) error {
	stage := filepath.Join(j.dir, stageDir)
	old := filepath.Join(j.dir, oldDir)
	swap := filepath.Join(j.dir, swapFile)
	step, err := os.ReadFile(swap)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	}
	if len(step) == 0 && !j.dirty() && len(j.dirs) == 0 && len(j.kept) == 0 {
		// Everything is durable already.
		return j.clear()
	}
	if len(step) == 0 && len(j.dirs) == 0 && len(j.kept) == 0 {
		// Every name is durable: only contents go back, in place.
		if err := j.undoInPlace(root); err != nil {
			return fmt.Errorf("restore %s: %w", root, err)
		}
		return j.clear()
	}
	if len(step) == 0 {
		if err := os.RemoveAll(stage); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if err := j.build(root, stage); err != nil {
			return fmt.Errorf("restore %s: %w", root, err)
		}
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if err := os.Mkdir(old, 0o700); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		step = []byte("out")
		if err := writeAtomic(swap, step); err != nil {
			return err
		}
		if j.stopAfter == string(step) {
			return errStopped
		}
	}
	if string(step) == "out" {
		if err := moveAll(root, old); err != nil {
			return fmt.Errorf("restore %s: %w", root, err)
		}
		step = []byte("in")
		if err := writeAtomic(swap, step); err != nil {
			return err
		}
		if j.stopAfter == string(step) {
			return errStopped
		}
	}
	if err := moveAll(stage, root); err != nil {
		return fmt.Errorf("restore %s: %w", root, err)
	}
	errs := []error{os.RemoveAll(old), os.RemoveAll(stage), j.clear(), os.Remove(swap)}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restore %s: %w", root, err)
	}
	return nil
}

// build makes stage hold the durable tree of root.
func (j *journal) build(root, stage string) error {
	objs := map[uint64]object{}
	names := map[uint64]map[string]uint64{} // current names of each directory
	var rootSt syscall.Stat_t
	if err := syscall.Stat(root, &rootSt); err != nil {
		return err
	}
	if err := scan(root, objs, names); err != nil {
		return err
	}
	for ino := range j.kept {
		if err := scan(j.path(keepDir, ino), objs, names); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	durable := func(dir uint64) map[string]uint64 {
		if n, ok := j.dirs[dir]; ok {
			return n
		}
		return names[dir]
	}
	if err := os.Mkdir(stage, 0o700); err != nil {
		return err
	}
	placed := map[uint64]string{}                // regular files, by inode
	visited := map[uint64]bool{rootSt.Ino: true} // directories
	var place func(dir uint64, at string) error
	place = func(dir uint64, at string) error {
		for name, ino := range durable(dir) {
			o, ok := objs[ino]
			if !ok {
				continue
			}
			dst := filepath.Join(at, name)
			if o.st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				// A directory has one place; a second durable name for
				// it (left by an unfinished move) is dropped.
				if visited[ino] {
					continue
				}
				visited[ino] = true
				if err := os.Mkdir(dst, 0o700); err != nil {
					return err
				}
				if err := place(ino, dst); err != nil {
					return err
				}
				if err := os.Lchown(dst, int(o.st.Uid), int(o.st.Gid)); err != nil {
					return err
				}
				if err := syscall.Chmod(dst, o.st.Mode&07777); err != nil {
					return err
				}
				continue
			}
			if err := unix.Linkat(unix.AT_FDCWD, o.path, unix.AT_FDCWD, dst, 0); err != nil {
				return fmt.Errorf("link %s: %w", o.path, err)
			}
			if o.st.Mode&syscall.S_IFMT == syscall.S_IFREG {
				placed[ino] = dst
			}
		}
		return nil
	}
	if err := place(rootSt.Ino, stage); err != nil {
		return err
	}
	for ino, p := range placed {
		if fu := j.files[ino]; fu != nil && !fu.clean {
			if err := j.undo(ino, fu, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// undoInPlace brings every changed file in root back to its durable
// content. Undoing is idempotent, so a kill in the middle is made good by
// the next attempt.
func (j *journal) undoInPlace(root string) error {
	objs := map[uint64]object{}
	if err := scan(root, objs, map[uint64]map[string]uint64{}); err != nil {
		return err
	}
	for ino, fu := range j.files {
		if o, ok := objs[ino]; ok && !fu.clean && o.st.Mode&syscall.S_IFMT == syscall.S_IFREG {
			if err := j.undo(ino, fu, o.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// scan records every object under p (p included) by inode, and the names
// of every directory.
func scan(p string, objs map[uint64]object, names map[uint64]map[string]uint64) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	return scanFrom(p, st, objs, names)
}

func scanFrom(p string, st unix.Stat_t, objs map[uint64]object, names map[uint64]map[string]uint64) error {
	if _, seen := objs[st.Ino]; !seen {
		objs[st.Ino] = object{path: p, st: st}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return nil
	}
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	ents, err := d.ReadDir(-1)
	if err != nil {
		d.Close()
		return err
	}
	children := make([]unix.Stat_t, len(ents))
	n := make(map[string]uint64, len(ents))
	for i, e := range ents {
		if err := unix.Fstatat(int(d.Fd()), e.Name(), &children[i], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			d.Close()
			return err
		}
		n[e.Name()] = children[i].Ino
	}
	d.Close()
	names[st.Ino] = n
	for i, e := range ents {
		if err := scanFrom(filepath.Join(p, e.Name()), children[i], objs, names); err != nil {
			return err
		}
	}
	return nil
}

// moveAll moves every entry of dir from into dir to. A missing from has
// been moved and removed already.
func moveAll(from, to string) error {
	ents, err := os.ReadDir(from)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
