package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// leftovers returns the names in dir other than want.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range ents {
		if !slices.Contains(want, e.Name()) {
			extra = append(extra, e.Name())
		}
	}
	return extra
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name string
		old  string // "" for no file before
		perm os.FileMode
	}{
		{"new file", "", 0o644},
		{"replaces a file", "old content that is longer than the new", 0o600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.txt")
			if tc.old != "" {
				if err := os.WriteFile(path, []byte(tc.old), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, []byte("new"), tc.perm); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != "new" {
				t.Fatalf("the file holds %q, %v; want \"new\"", b, err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" && st.Mode().Perm() != tc.perm {
				t.Errorf("mode %v; want %v", st.Mode().Perm(), tc.perm)
			}
			if extra := leftovers(t, dir, "f.txt"); extra != nil {
				t.Errorf("left behind: %v", extra)
			}
		})
	}
}

// TestLinkReplaced checks that a link at the file's name is replaced by
// the file, and what it leads to is untouched.
func TestLinkReplaced(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "f.txt")
	if err := os.Symlink(outside, path); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if err := WriteFile(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "secret" {
		t.Errorf("the link's target now holds %q", b)
	}
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() {
		t.Errorf("the name is %v, %v; want a regular file", st.Mode(), err)
	}
}

// TestFailedWriteKeepsOld checks that a write that fails, and a commit
// that cannot rename, leave the old file and no temporary file.
func TestFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Write = %v; want boom", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("the file holds %q; want \"old\"", b)
	}

	// A directory at the name cannot be replaced by a file.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(sub, []byte("new"), 0o644); err == nil {
		t.Error("WriteFile over a directory succeeded")
	}
	if extra := leftovers(t, dir, "f.txt", "sub"); extra != nil {
		t.Errorf("left behind: %v", extra)
	}
}

// TestDiscard checks that Discard drops an uncommitted file and leaves a
// committed one.
func TestDiscard(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	f, err := Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "dropped")
	f.Discard()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Discard: %v; want no file", err)
	}
	if extra := leftovers(t, dir); extra != nil {
		t.Errorf("left behind: %v", extra)
	}

	f, err = Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "kept")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Discard()
	if b, _ := os.ReadFile(path); string(b) != "kept" {
		t.Errorf("after Commit and Discard the file holds %q", b)
	}
}

// TestWriteFileUnsynced checks that the unflushed variant replaces a file
// whole too, and leaves nothing behind.
func TestWriteFileUnsynced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "names")
	for _, content := range []string{"first, and longer", "second"} {
		if err := WriteFileUnsynced(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != content {
			t.Fatalf("the file holds %q, %v; want %q", b, err, content)
		}
	}
	if extra := leftovers(t, dir, "names"); extra != nil {
		t.Errorf("left behind: %v", extra)
	}
}
