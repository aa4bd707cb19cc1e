package inroot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAsideAndBack(t *testing.T) {
	root := t.TempDir()
	logs, prev := filepath.Join(".clstr", "logs"), filepath.Join(".clstr", "logs.previous")
	write(t, filepath.Join(root, logs, "n1.log"), "old")
	write(t, filepath.Join(root, prev, "stale.log"), "from a run that was killed")

	moved, err := Aside(root, logs, prev)
	if err != nil || !moved {
		t.Fatalf("Aside: moved %v, %v; want the logs moved", moved, err)
	}
	if es, err := os.ReadDir(filepath.Join(root, logs)); err != nil || len(es) != 0 {
		t.Fatalf("after Aside the log directory holds %v (%v); want it empty", es, err)
	}
	if _, err := os.Stat(filepath.Join(root, prev, "stale.log")); !os.IsNotExist(err) {
		t.Errorf("Aside kept what the aside directory held: %v", err)
	}
	write(t, filepath.Join(root, logs, "events.log"), "new")

	if err := Back(root, logs, prev); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, logs, "n1.log")); err != nil || string(b) != "old" {
		t.Errorf("after Back n1.log holds %q (%v); want the old logs", b, err)
	}
	if _, err := os.Stat(filepath.Join(root, logs, "events.log")); !os.IsNotExist(err) {
		t.Errorf("Back kept the new run's file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, prev)); !os.IsNotExist(err) {
		t.Errorf("Back left the aside directory: %v", err)
	}

	if err := Remove(root, logs); err != nil {
		t.Fatal(err)
	}
	if moved, err := Aside(root, logs, prev); err != nil || moved {
		t.Errorf("Aside with no logs: moved %v, %v; want nothing moved", moved, err)
	}
}

func TestAsideRefusesLinks(t *testing.T) {
	root, elsewhere := t.TempDir(), t.TempDir()
	write(t, filepath.Join(elsewhere, "logs", "keep.txt"), "not clstr's")
	if err := os.Symlink(elsewhere, filepath.Join(root, ".clstr")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	logs, prev := filepath.Join(".clstr", "logs"), filepath.Join(".clstr", "logs.previous")
	for name, err := range map[string]error{
		"Aside":  func() error { _, err := Aside(root, logs, prev); return err }(),
		"Back":   Back(root, logs, prev),
		"Remove": Remove(root, logs),
	} {
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("%s through a linked .clstr: %v; want it refused", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "logs", "keep.txt")); err != nil {
		t.Errorf("what the link points at was touched: %v", err)
	}
}
