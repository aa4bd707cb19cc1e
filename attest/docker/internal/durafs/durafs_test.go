//go:build linux

package durafs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// mounted is a file system under test.
type mounted struct {
	s                     *Server
	backing, mnt, journal string
}

// mountT mounts a fresh backing directory holding files (path → content;
// a path ending in "/" is a directory), all durable. It skips the test
// where this host cannot mount FUSE.
func mountT(t testing.TB, files map[string]string) *mounted {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("durafs needs /dev/fuse, which this host lacks: %v", err)
	}
	dir := t.TempDir()
	m := &mounted{
		backing: filepath.Join(dir, "data"),
		mnt:     filepath.Join(dir, "mnt"),
		journal: filepath.Join(dir, "journal"),
	}
	for _, d := range []string{m.backing, m.mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	populate(t, m.backing, files)
	m.mount(t)
	return m
}

func (m *mounted) mount(t testing.TB) {
	t.Helper()
	s, err := Mount(m.backing, m.mnt, Options{Journal: m.journal})
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		t.Skipf("durafs needs permission to mount FUSE (root or CAP_SYS_ADMIN): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	m.s = s
	t.Cleanup(func() {
		if !s.lost.Load() {
			if err := s.Unmount(); err != nil {
				t.Errorf("unmount: %v", err)
			}
		}
	})
}

func populate(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(files[p]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tree lists root as path → content; directories end in "/", symlinks
// read "-> target".
func tree(t testing.TB, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir():
			got[rel+"/"] = ""
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "-> " + target
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Steps a test program takes on the mount, with plain os calls.

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeSync(t *testing.T, p, content string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, p, content string, sync bool) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func writeAt(t *testing.T, p string, off int64, content string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(content), off); err != nil {
		t.Fatal(err)
	}
}

func syncDir(t *testing.T, p string) {
	t.Helper()
	d, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// scenarios are scripted sequences of changes, with what a power loss
// must leave.
var scenarios = []struct {
	name   string
	before map[string]string // durable before the mount
	steps  func(t *testing.T, m string)
	want   map[string]string
}{
	{
		name:  "no-fsync: new file never synced is gone",
		steps: func(t *testing.T, m string) { write(t, m+"/a", "hello") },
		want:  map[string]string{},
	},
	{
		name:   "no-fsync: overwrite never synced is undone",
		before: map[string]string{"data": "v1"},
		steps:  func(t *testing.T, m string) { write(t, m+"/data", "v2, longer") },
		want:   map[string]string{"data": "v1"},
	},
	{
		name: "no-fsync: name synced, content not, is empty",
		steps: func(t *testing.T, m string) {
			write(t, m+"/a", "hello")
			syncDir(t, m)
		},
		want: map[string]string{"a": ""},
	},
	{
		name:  "no-dir-fsync: file created and synced, directory not",
		steps: func(t *testing.T, m string) { writeSync(t, m+"/a", "hello") },
		want:  map[string]string{},
	},
	{
		name:   "no-dir-fsync: tmp synced and renamed over, directory not",
		before: map[string]string{"data": "old"},
		steps: func(t *testing.T, m string) {
			writeSync(t, m+"/data.tmp", "new")
			must(t, os.Rename(m+"/data.tmp", m+"/data"))
		},
		want: map[string]string{"data": "old"},
	},
	{
		name:   "tmp synced, renamed over, directory synced",
		before: map[string]string{"data": "old"},
		steps: func(t *testing.T, m string) {
			writeSync(t, m+"/data.tmp", "new")
			must(t, os.Rename(m+"/data.tmp", m+"/data"))
			syncDir(t, m)
		},
		want: map[string]string{"data": "new"},
	},
	{
		name: "file and directory synced",
		steps: func(t *testing.T, m string) {
			writeSync(t, m+"/a", "hello")
			syncDir(t, m)
		},
		want: map[string]string{"a": "hello"},
	},
	{
		name:   "unlink without directory fsync is undone",
		before: map[string]string{"a": "x", "b": "y"},
		steps: func(t *testing.T, m string) {
			must(t, os.Remove(m+"/a"))
			write(t, m+"/b", "changed")
		},
		want: map[string]string{"a": "x", "b": "y"},
	},
	{
		name:   "unlink with directory fsync is durable",
		before: map[string]string{"a": "x"},
		steps: func(t *testing.T, m string) {
			must(t, os.Remove(m+"/a"))
			syncDir(t, m)
		},
		want: map[string]string{},
	},
	{
		name:   "unlink and create again under the name, file synced only",
		before: map[string]string{"a": "old"},
		steps: func(t *testing.T, m string) {
			must(t, os.Remove(m+"/a"))
			writeSync(t, m+"/a", "new")
		},
		want: map[string]string{"a": "old"},
	},
	{
		name: "mkdir whose parent was not synced is gone with its synced content",
		steps: func(t *testing.T, m string) {
			must(t, os.Mkdir(m+"/d", 0o755))
			writeSync(t, m+"/d/f", "x")
			syncDir(t, m+"/d")
		},
		want: map[string]string{},
	},
	{
		name: "mkdir synced, inside synced",
		steps: func(t *testing.T, m string) {
			must(t, os.Mkdir(m+"/d", 0o755))
			syncDir(t, m)
			writeSync(t, m+"/d/f", "x")
			syncDir(t, m+"/d")
		},
		want: map[string]string{"d/": "", "d/f": "x"},
	},
	{
		name: "mkdir synced, inside not",
		steps: func(t *testing.T, m string) {
			must(t, os.Mkdir(m+"/d", 0o755))
			syncDir(t, m)
			writeSync(t, m+"/d/f", "x")
		},
		want: map[string]string{"d/": ""},
	},
	{
		name:   "rmdir without fsync is undone",
		before: map[string]string{"d/": "", "d/f": "x"},
		steps: func(t *testing.T, m string) {
			must(t, os.Remove(m+"/d/f"))
			must(t, os.Remove(m+"/d"))
		},
		want: map[string]string{"d/": "", "d/f": "x"},
	},
	{
		name:   "rmdir with parent fsync is durable",
		before: map[string]string{"d/": "", "d/f": "x", "e": "y"},
		steps: func(t *testing.T, m string) {
			must(t, os.Remove(m+"/d/f"))
			must(t, os.Remove(m+"/d"))
			syncDir(t, m)
		},
		want: map[string]string{"e": "y"},
	},
	{
		// rename(2) itself: Go's os.Rename refuses an existing directory
		// as its destination before the file system sees the call.
		name:   "directory renamed onto an empty one, parent synced",
		before: map[string]string{"a/": "", "a/f": "x", "b/": ""},
		steps: func(t *testing.T, m string) {
			must(t, syscall.Rename(m+"/a", m+"/b"))
			syncDir(t, m)
		},
		want: map[string]string{"b/": "", "b/f": "x"},
	},
	{
		name:   "directory renamed onto an empty one, not synced, is undone",
		before: map[string]string{"a/": "", "a/f": "x", "b/": ""},
		steps:  func(t *testing.T, m string) { must(t, syscall.Rename(m+"/a", m+"/b")) },
		want:   map[string]string{"a/": "", "a/f": "x", "b/": ""},
	},
	{
		name:   "rename between directories, neither synced",
		before: map[string]string{"a/": "", "b/": "", "a/f": "x"},
		steps:  func(t *testing.T, m string) { must(t, os.Rename(m+"/a/f", m+"/b/f")) },
		want:   map[string]string{"a/": "", "b/": "", "a/f": "x"},
	},
	{
		name:   "rename between directories, source synced",
		before: map[string]string{"a/": "", "b/": "", "a/f": "x"},
		steps: func(t *testing.T, m string) {
			must(t, os.Rename(m+"/a/f", m+"/b/f"))
			syncDir(t, m+"/a")
		},
		want: map[string]string{"a/": "", "b/": "", "b/f": "x"},
	},
	{
		name:   "rename between directories, destination synced",
		before: map[string]string{"a/": "", "b/": "", "a/f": "x", "b/g": "y"},
		steps: func(t *testing.T, m string) {
			must(t, os.Rename(m+"/a/f", m+"/b/f"))
			write(t, m+"/a/h", "z")
			syncDir(t, m+"/b")
		},
		want: map[string]string{"a/": "", "b/": "", "b/f": "x", "b/g": "y"},
	},
	{
		name:   "directory moved between directories, destination synced",
		before: map[string]string{"a/": "", "b/": "", "a/d/": "", "a/d/f": "x"},
		steps: func(t *testing.T, m string) {
			must(t, os.Rename(m+"/a/d", m+"/b/d"))
			syncDir(t, m+"/b")
		},
		want: map[string]string{"a/": "", "b/": "", "b/d/": "", "b/d/f": "x"},
	},
	{
		name:   "new file moved between directories, removed, then source synced",
		before: map[string]string{"a/": "", "b/": ""},
		steps: func(t *testing.T, m string) {
			writeSync(t, m+"/a/f", "x")
			must(t, os.Rename(m+"/a/f", m+"/b/f"))
			must(t, os.Remove(m+"/b/f"))
			writeSync(t, m+"/b/g", "y")
			syncDir(t, m+"/a")
		},
		want: map[string]string{"a/": "", "b/": "", "b/f": "x"},
	},
	{
		name:   "append after fsync is lost",
		before: map[string]string{"log": "hello"},
		steps:  func(t *testing.T, m string) { appendTo(t, m+"/log", " world", false) },
		want:   map[string]string{"log": "hello"},
	},
	{
		name:   "append synced stays",
		before: map[string]string{"log": "hello"},
		steps:  func(t *testing.T, m string) { appendTo(t, m+"/log", " world", true) },
		want:   map[string]string{"log": "hello world"},
	},
	{
		name:   "synced content, later writes lost",
		before: map[string]string{"data": "v0"},
		steps: func(t *testing.T, m string) {
			writeSync(t, m+"/data", "v1")
			write(t, m+"/data", "v2 and more")
		},
		want: map[string]string{"data": "v1"},
	},
	{
		name:   "overwrite across blocks and truncate are undone",
		before: map[string]string{"big": strings.Repeat("a", 3*blockSize+100), "small": "hello"},
		steps: func(t *testing.T, m string) {
			writeAt(t, m+"/big", blockSize-10, strings.Repeat("b", blockSize+20))
			writeAt(t, m+"/big", 3*blockSize+50, strings.Repeat("c", 2*blockSize))
			must(t, os.Truncate(m+"/small", 2))
			writeAt(t, m+"/small", 10, "far")
		},
		want: map[string]string{"big": strings.Repeat("a", 3*blockSize+100), "small": "hello"},
	},
	{
		name:   "O_SYNC write is durable",
		before: map[string]string{"a": "old"},
		steps: func(t *testing.T, m string) {
			f, err := os.OpenFile(m+"/a", os.O_WRONLY|os.O_SYNC, 0)
			must(t, err)
			_, err = f.WriteString("new")
			must(t, err)
			must(t, f.Close())
		},
		want: map[string]string{"a": "new"},
	},
	{
		name:   "O_DSYNC write is durable, later plain write is not",
		before: map[string]string{"a": "aaaa"},
		steps: func(t *testing.T, m string) {
			f, err := os.OpenFile(m+"/a", os.O_WRONLY|syscall.O_DSYNC, 0)
			must(t, err)
			_, err = f.WriteString("bb")
			must(t, err)
			must(t, f.Close())
			writeAt(t, m+"/a", 2, "cc")
		},
		want: map[string]string{"a": "bbaa"},
	},
	{
		name:   "hard link and symlink need the directory fsync",
		before: map[string]string{"a": "x", "d/": ""},
		steps: func(t *testing.T, m string) {
			must(t, os.Link(m+"/a", m+"/b"))
			must(t, os.Symlink("a", m+"/c"))
			must(t, os.Link(m+"/a", m+"/d/b"))
			must(t, os.Symlink("../a", m+"/d/c"))
			syncDir(t, m+"/d")
		},
		want: map[string]string{"a": "x", "d/": "", "d/b": "x", "d/c": "-> ../a"},
	},
	{
		name:   "file renamed and written, old name synced away",
		before: map[string]string{"a": "x"},
		steps: func(t *testing.T, m string) {
			must(t, os.Rename(m+"/a", m+"/b"))
			write(t, m+"/b", "changed")
			syncDir(t, m)
			write(t, m+"/c", "new")
		},
		want: map[string]string{"b": "x"},
	},
}

func TestPowerLoss(t *testing.T) {
	for _, tc := range scenarios {
		t.Run(tc.name, func(t *testing.T) {
			m := mountT(t, tc.before)
			tc.steps(t, m.mnt)
			if err := m.s.PowerLoss(); err != nil {
				t.Fatalf("power loss: %v", err)
			}
			checkTree(t, m, tc.want)
		})
	}
}

// TestReplay loses power offline: the serving process stops without
// restoring (as when it is killed with the node), and Replay restores
// from the journal alone.
func TestReplay(t *testing.T) {
	for _, tc := range scenarios {
		t.Run(tc.name, func(t *testing.T) {
			m := mountT(t, tc.before)
			tc.steps(t, m.mnt)
			if err := m.s.Unmount(); err != nil {
				t.Fatal(err)
			}
			// A second mount carries on from the journal.
			m.mount(t)
			if err := m.s.Unmount(); err != nil {
				t.Fatal(err)
			}
			if err := Replay(m.backing, m.journal); err != nil {
				t.Fatalf("replay: %v", err)
			}
			checkTree(t, m, tc.want)
		})
	}
}

func checkTree(t *testing.T, m *mounted, want map[string]string) {
	t.Helper()
	got := tree(t, m.backing)
	if !maps.Equal(got, want) {
		t.Errorf("after the power loss the backing directory holds\n%s\nwant\n%s", show(got), show(want))
	}
	// Nothing of the journal is left to replay twice.
	for _, sub := range []string{dataDir, dirsDir, keepDir} {
		ents, err := os.ReadDir(filepath.Join(m.journal, sub))
		if err != nil || len(ents) > 0 {
			t.Errorf("journal %s not empty after the power loss: %d entries, %v", sub, len(ents), err)
		}
	}
}

func show(files map[string]string) string {
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(files)) {
		c := files[p]
		if len(c) > 40 {
			c = fmt.Sprintf("%.20s…(%d bytes)", c, len(c))
		}
		fmt.Fprintf(&b, "  %s = %q\n", p, c)
	}
	if len(files) == 0 {
		b.WriteString("  (nothing)\n")
	}
	return b.String()
}

// TestSyncKeepsEverything: a clean shutdown loses nothing.
func TestSyncKeepsEverything(t *testing.T) {
	m := mountT(t, map[string]string{"a": "x"})
	write(t, m.mnt+"/a", "changed")
	write(t, m.mnt+"/b", "new")
	if err := m.s.Unmount(); err != nil {
		t.Fatal(err)
	}
	if err := Sync(m.journal); err != nil {
		t.Fatal(err)
	}
	if err := Replay(m.backing, m.journal); err != nil {
		t.Fatal(err)
	}
	checkTree(t, m, map[string]string{"a": "changed", "b": "new"})
}

// TestLostMountFails: after the power loss the program sees errors, not
// the restored files.
func TestLostMountFails(t *testing.T) {
	m := mountT(t, nil)
	f, err := os.Create(m.mnt + "/a")
	must(t, err)
	defer f.Close()
	if err := m.s.PowerLoss(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("late"); err == nil {
		t.Error("a write after the power loss succeeded")
	}
	checkTree(t, m, map[string]string{})
}

// TestCheck: this host can serve the file system, or the test says why
// not.
func TestCheck(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("durafs needs /dev/fuse, which this host lacks: %v", err)
	}
	if err := Check(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

// TestReplayFinishesCutRestore: a restore killed in the middle of its
// swap is finished by the next Replay, and Mount refuses to serve the
// half-swapped directory meanwhile.
func TestReplayFinishesCutRestore(t *testing.T) {
	for _, stop := range []string{"out", "in"} {
		t.Run("killed after "+stop, func(t *testing.T) {
			m := mountT(t, map[string]string{"data": "old", "d/": "", "d/f": "x"})
			writeSync(t, m.mnt+"/data.tmp", "new")
			must(t, os.Rename(m.mnt+"/data.tmp", m.mnt+"/data"))
			write(t, m.mnt+"/d/f", "changed")
			writeSync(t, m.mnt+"/e", "synced")
			syncDir(t, m.mnt)
			write(t, m.mnt+"/late", "never synced")
			must(t, m.s.Unmount())
			j, err := openJournal(m.journal)
			must(t, err)
			j.stopAfter = stop
			if err := j.restore(m.backing); !errors.Is(err, errStopped) {
				t.Fatalf("restore stopped after %s: %v", stop, err)
			}
			j.close()
			if s, err := Mount(m.backing, m.mnt, Options{Journal: m.journal}); err == nil {
				s.Unmount()
				t.Fatal("mounted a directory whose restore was cut short")
			}
			must(t, Replay(m.backing, m.journal))
			checkTree(t, m, map[string]string{"data": "new", "d/": "", "d/f": "x", "e": "synced"})
		})
	}
}
