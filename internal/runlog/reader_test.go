package runlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogsReadNew checks that a reader returns only whole new lines, and
// starts over on a file a new run wrote.
func TestReadNew(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "n1.log")
	appendTo := func(s string) {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	lf := &fileReader{}
	read := func() string {
		t.Helper()
		lines, err := lf.readNew(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "|")
	}
	if got := read(); got != "" {
		t.Errorf("no file: %q", got)
	}
	appendTo("a\nb")
	if got := read(); got != "a" {
		t.Errorf("first read %q; want a (b is not ended yet)", got)
	}
	appendTo("c\nd\n")
	if got := read(); got != "bc|d" {
		t.Errorf("second read %q; want bc|d", got)
	}
	if got := read(); got != "" {
		t.Errorf("nothing new: %q", got)
	}
	// A new run removes the directory and writes the file again.
	os.Remove(p)
	appendTo("new\n")
	if got := read(); got != "new" {
		t.Errorf("after a new run %q; want new", got)
	}
}
