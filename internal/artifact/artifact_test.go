package artifact

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(dir, name, text string, q *Quota) error {
	_, err := WriteFile(dir, name, q, func(w io.Writer) error {
		_, err := io.WriteString(w, text)
		return err
	})
	return err
}

// TestWriteFileReplacesLinks checks that a link planted at a file's name
// is replaced, and what it points at is left as it was.
func TestWriteFileReplacesLinks(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "index.html")); err != nil {
		t.Fatal(err)
	}
	if err := write(dir, "index.html", "page", nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link's target was written: %q", b)
	}
	st, err := os.Lstat(filepath.Join(dir, "index.html"))
	if err != nil || st.Mode()&os.ModeSymlink != 0 {
		t.Errorf("index.html is still a link: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "index.html")); string(b) != "page" {
		t.Errorf("index.html holds %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestWriteFileRefusesLinkedDir checks that a directory that is a link is
// refused, and nothing is written where it points.
func TestWriteFileRefusesLinkedDir(t *testing.T) {
	base, outside := t.TempDir(), t.TempDir()
	dir := filepath.Join(base, "report")
	if err := os.Symlink(outside, dir); err != nil {
		t.Fatal(err)
	}
	err := write(dir, "index.html", "page", nil)
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("writing into a linked directory: %v; want a refusal", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("the link's target got %d files", len(entries))
	}
}

// TestCopyFileRefusesLinkedSource checks that a copy does not read
// through a link.
func TestCopyFileRefusesLinkedSource(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("key"), 0o600)
	src := filepath.Join(dir, "linearizability-x.html")
	if err := os.Symlink(secret, src); err != nil {
		t.Fatal(err)
	}
	if _, err := CopyFile(src, t.TempDir(), "linearizability-x.html", nil); err == nil {
		t.Error("a linked source was copied")
	}
}

// TestQuota checks that the files of a run are counted at their latest
// sizes and that a write past the limit fails, keeping the old file.
func TestQuota(t *testing.T) {
	dir := t.TempDir()
	q := &Quota{Limit: 100, Flag: "max-disk"}
	if err := write(dir, "a", strings.Repeat("a", 60), q); err != nil {
		t.Fatal(err)
	}
	// The same file again counts once.
	for range 5 {
		if err := write(dir, "a", strings.Repeat("a", 60), q); err != nil {
			t.Fatal(err)
		}
	}
	if q.Used() != 60 {
		t.Errorf("used %d; want 60", q.Used())
	}
	err := write(dir, "b", strings.Repeat("b", 50), q)
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("a write past the limit: %v; want a quota error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "limit: disk space (100 bytes) exceeded") || !strings.Contains(msg, "--max-disk") {
		t.Errorf("message %q", msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); !os.IsNotExist(err) {
		t.Errorf("the file past the limit exists: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := write(dir, "a", strings.Repeat("a", 10), q); err != nil || q.Used() != 10 {
		t.Errorf("a smaller file: %v, used %d; want 10", err, q.Used())
	}
}
