//go:build linux

package durafs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/clstr-dev/clstr/internal/atomicfile"
)

// The journal directory holds:
//
//	data/<ino>   a file's undo log: its durable size, then saved blocks
//	dirs/<ino>   a directory's names as of its last fsync
//	keep/<ino>   a file or directory a durable name still refers to
//	renames      cross-directory renames not yet durable
//	stage/, old/, swap   work areas of a restore (see restore.go)
const (
	dataDir     = "data"
	dirsDir     = "dirs"
	keepDir     = "keep"
	renamesFile = "renames"
)

// crossRename is a rename between two directories that neither has made
// durable yet.
type crossRename struct {
	src, dst         uint64 // directory inodes
	oldName, newName string
	ino              uint64 // the renamed object
}

// journal is the undo information of one backing directory. Its methods
// write the journal directory before they return; the caller serialises
// them (Server.mu).
type journal struct {
	dir     string
	files   map[uint64]*fileUndo         // changed files, and some clean ones
	nclean  int                          // clean entries in files
	dirs    map[uint64]map[string]uint64 // dirty directories' durable names
	kept    map[uint64]bool
	renames []crossRename

	// stopAfter, when set by a test, stops a restore right after it
	// records that step ("out", "in"), as a kill there would.
	stopAfter string
}

// openJournal loads the journal in dir, creating it if needed.
func openJournal(dir string) (*journal, error) {
	j := &journal{
		dir:   dir,
		files: map[uint64]*fileUndo{},
		dirs:  map[uint64]map[string]uint64{},
		kept:  map[uint64]bool{},
	}
	for _, sub := range []string{dataDir, dirsDir, keepDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("create journal: %w", err)
		}
	}
	if err := j.load(); err != nil {
		j.close()
		return nil, fmt.Errorf("read journal %s: %w", dir, err)
	}
	return j, nil
}

func (j *journal) path(sub string, ino uint64) string {
	return filepath.Join(j.dir, sub, strconv.FormatUint(ino, 10))
}

// close releases the open undo logs.
func (j *journal) close() {
	for _, f := range j.files {
		if f.log != nil {
			f.log.Close()
		}
	}
}

// clear empties the journal: everything in the backing directory is now
// durable.
func (j *journal) clear() error {
	j.close()
	var errs []error
	for _, sub := range []string{dataDir, dirsDir, keepDir, renamesFile} {
		errs = append(errs, os.RemoveAll(filepath.Join(j.dir, sub)))
	}
	for _, sub := range []string{dataDir, dirsDir, keepDir} {
		errs = append(errs, os.MkdirAll(filepath.Join(j.dir, sub), 0o700))
	}
	j.files = map[uint64]*fileUndo{}
	j.nclean = 0
	j.dirs = map[uint64]map[string]uint64{}
	j.kept = map[uint64]bool{}
	j.renames = nil
	return errors.Join(errs...)
}

func (j *journal) load() error {
	inos, err := j.inodes(dataDir)
	if err != nil {
		return err
	}
	for _, ino := range inos {
		fu, err := loadUndo(j.path(dataDir, ino))
		if err != nil {
			return err
		}
		if fu != nil {
			j.files[ino] = fu
		}
	}
	if inos, err = j.inodes(dirsDir); err != nil {
		return err
	}
	for _, ino := range inos {
		b, err := os.ReadFile(j.path(dirsDir, ino))
		if err != nil {
			return err
		}
		names, err := decodeNames(b)
		if err != nil {
			return fmt.Errorf("directory %d: %w", ino, err)
		}
		j.dirs[ino] = names
	}
	if inos, err = j.inodes(keepDir); err != nil {
		return err
	}
	for _, ino := range inos {
		j.kept[ino] = true
	}
	b, err := os.ReadFile(filepath.Join(j.dir, renamesFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	j.renames, err = decodeRenames(b)
	return err
}

// inodes lists the inode numbers that name the files of the journal's
// folder sub; other names are passed over.
func (j *journal) inodes(sub string) ([]uint64, error) {
	ents, err := os.ReadDir(filepath.Join(j.dir, sub))
	if err != nil {
		return nil, err
	}
	var inos []uint64
	for _, e := range ents {
		if ino, err := strconv.ParseUint(e.Name(), 10, 64); err == nil {
			inos = append(inos, ino)
		}
	}
	return inos, nil
}

// dirChanging records the names of directory ino (at path) before its
// first change since its last fsync.
func (j *journal) dirChanging(ino uint64, path string) error {
	if _, ok := j.dirs[ino]; ok {
		return nil
	}
	names, err := readNames(path)
	if err != nil {
		return fmt.Errorf("journal: list %s: %w", path, err)
	}
	return j.setDir(ino, names)
}

// newDir records a directory created empty: none of its names is durable.
func (j *journal) newDir(ino uint64) error {
	return j.setDir(ino, map[string]uint64{})
}

func (j *journal) setDir(ino uint64, names map[string]uint64) error {
	j.dirs[ino] = names
	return writeAtomic(j.path(dirsDir, ino), encodeNames(names))
}

// dropDir forgets directory ino, which no longer exists anywhere.
func (j *journal) dropDir(ino uint64) error {
	delete(j.dirs, ino)
	return ignoreMissing(os.Remove(j.path(dirsDir, ino)))
}

// dirSynced makes the names of directory ino durable, with the other half
// of every rename between it and another directory.
func (j *journal) dirSynced(ino uint64) error {
	if err := j.dropDir(ino); err != nil {
		return err
	}
	var rest []crossRename
	touched := map[uint64]bool{}
	for _, r := range j.renames {
		if r.src != ino && r.dst != ino {
			rest = append(rest, r)
			continue
		}
		if names, ok := j.dirs[r.src]; ok && r.src != ino && names[r.oldName] == r.ino {
			delete(names, r.oldName)
			touched[r.src] = true
		}
		if names, ok := j.dirs[r.dst]; ok && r.dst != ino {
			names[r.newName] = r.ino
			touched[r.dst] = true
		}
	}
	var errs []error
	for d := range touched {
		errs = append(errs, writeAtomic(j.path(dirsDir, d), encodeNames(j.dirs[d])))
	}
	if len(rest) != len(j.renames) {
		j.renames = rest
		errs = append(errs, writeAtomic(filepath.Join(j.dir, renamesFile), encodeRenames(rest)))
	}
	errs = append(errs, j.collect())
	return errors.Join(errs...)
}

// addRename records a rename between two directories.
func (j *journal) addRename(r crossRename) error {
	j.renames = append(j.renames, r)
	return writeAtomic(filepath.Join(j.dir, renamesFile), encodeRenames(j.renames))
}

// referenced reports whether a durable name refers to ino. Clean
// directories name only what exists in the backing tree, so only the
// recorded names of changed directories matter, and the renames that a
// fsync would add to them. The recorded names of a kept directory count
// too; collect drops those nothing refers to.
func (j *journal) referenced(ino uint64) bool {
	for _, r := range j.renames {
		if r.ino == ino {
			return true
		}
	}
	for _, names := range j.dirs {
		for _, i := range names {
			if i == ino {
				return true
			}
		}
	}
	return false
}

// retire is called before the last name of object ino at path goes away.
// If a durable name still refers to it, it is kept alive in the journal:
// a file by a link (the caller then removes the name), a directory by
// moving it there (which removes the name; moved reports this).
func (j *journal) retire(ino uint64, path string, isDir bool) (moved bool, err error) {
	if !j.referenced(ino) {
		if isDir {
			// It goes for good, and so do its recorded names.
			return false, j.dropDir(ino)
		}
		return false, nil
	}
	keep := j.path(keepDir, ino)
	if isDir {
		if err := os.Rename(path, keep); err != nil {
			return false, err
		}
		j.kept[ino] = true
		return true, nil
	}
	if j.kept[ino] {
		return false, nil
	}
	if err := os.Link(path, keep); err != nil {
		return false, fmt.Errorf("journal: keep %s: %w", path, err)
	}
	j.kept[ino] = true
	return false, nil
}

// collect lets go of kept objects no durable name refers to any more.
func (j *journal) collect() error {
	var errs []error
	for again := true; again; {
		again = false
		for ino := range j.kept {
			if j.referenced(ino) {
				continue
			}
			delete(j.kept, ino)
			errs = append(errs, os.RemoveAll(j.path(keepDir, ino)))
			errs = append(errs, j.forget(ino))
			if _, ok := j.dirs[ino]; ok {
				errs = append(errs, j.dropDir(ino))
				again = true
			}
		}
	}
	return errors.Join(errs...)
}

// readNames lists a directory as name → inode.
func readNames(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	names := make(map[string]uint64, len(ents))
	for _, e := range ents {
		var st unix.Stat_t
		if err := unix.Fstatat(int(f.Fd()), e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, err
		}
		names[e.Name()] = st.Ino
	}
	return names, nil
}

func encodeNames(names map[string]uint64) []byte {
	var b []byte
	for name, ino := range names {
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, ino)
	}
	return b
}

var errCorrupt = errors.New("journal record is damaged")

func decodeNames(b []byte) (map[string]uint64, error) {
	names := map[string]uint64{}
	for len(b) > 0 {
		name, rest, ok := readString(b)
		if !ok {
			return nil, errCorrupt
		}
		ino, n := binary.Uvarint(rest)
		if n <= 0 {
			return nil, errCorrupt
		}
		names[name] = ino
		b = rest[n:]
	}
	return names, nil
}

func encodeRenames(rs []crossRename) []byte {
	var b []byte
	for _, r := range rs {
		b = binary.AppendUvarint(b, r.src)
		b = binary.AppendUvarint(b, r.dst)
		b = binary.AppendUvarint(b, r.ino)
		b = binary.AppendUvarint(b, uint64(len(r.oldName)))
		b = append(b, r.oldName...)
		b = binary.AppendUvarint(b, uint64(len(r.newName)))
		b = append(b, r.newName...)
	}
	return b
}

func decodeRenames(b []byte) ([]crossRename, error) {
	var rs []crossRename
	for len(b) > 0 {
		var r crossRename
		var nums [3]uint64
		for i := range nums {
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errCorrupt
			}
			nums[i], b = v, b[n:]
		}
		r.src, r.dst, r.ino = nums[0], nums[1], nums[2]
		var ok bool
		if r.oldName, b, ok = readString(b); !ok {
			return nil, errCorrupt
		}
		if r.newName, b, ok = readString(b); !ok {
			return nil, errCorrupt
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func readString(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return "", nil, false
	}
	return string(b[n : n+int(l)]), b[n+int(l):], true
}

// writeAtomic replaces the file at p with b, so a kill leaves either the
// old or the new content.
func writeAtomic(p string, b []byte) error {
	if err := atomicfile.WriteFileUnsynced(p, b, 0o600); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
