package watch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func newWatcher(t *testing.T, s Set) *Watcher {
	t.Helper()
	w, err := New(Options{Debounce: 50 * time.Millisecond, Settle: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Watch(s); err != nil {
		t.Fatal(err)
	}
	return w
}

// next waits for the next change, for at most 10s (the CPUs are shared).
func next(t *testing.T, w *Watcher) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return got
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantChanged(t *testing.T, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("changed %q; want %q", got, want)
	}
}

// saves are the ways a file gets saved: in place, or by an editor that
// writes a new file and renames it over the old one.
var saves = []struct {
	name string
	save func(t *testing.T, path, content string)
}{
	{"in place", write},
	{"rename over", func(t *testing.T, path, content string) {
		tmp := path + ".tmp~"
		write(t, tmp, content)
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}},
	{"remove and create", func(t *testing.T, path, content string) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		write(t, path, content)
	}},
}

func TestFileSaves(t *testing.T) {
	for _, tc := range saves {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			script, other := filepath.Join(dir, "stage.star"), filepath.Join(dir, "notes.txt")
			write(t, script, "a")
			write(t, other, "a")
			w := newWatcher(t, Set{Files: []string{script}})
			// A file beside it that is not watched changes first; then the
			// script. Only the script is reported.
			write(t, other, "b")
			tc.save(t, script, "b")
			wantChanged(t, next(t, w), script)
			// And again: the watch survives the save.
			tc.save(t, script, "c")
			wantChanged(t, next(t, w), script)
		})
	}
}

func TestBurstIsOneChange(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.star"), filepath.Join(dir, "b.star")
	write(t, a, "")
	write(t, b, "")
	w := newWatcher(t, Set{Files: []string{a, b}})
	for i := range 10 {
		write(t, a, string(rune('a'+i)))
		write(t, b, string(rune('a'+i)))
		time.Sleep(10 * time.Millisecond)
	}
	wantChanged(t, next(t, w), a, b)
	// Nothing more is pending: the burst was reported once.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if got, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after the burst: Next = %q, %v; want nothing", got, err)
	}
}

func TestStableWaitsForTheLastWrite(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "node")
	write(t, bin, "old")
	w := newWatcher(t, Set{Stable: []string{bin}})
	// A build that writes the file in steps, pausing longer than the
	// debounce period but shorter than the settle period between them.
	done := make(chan time.Time, 1)
	go func() {
		f, err := os.Create(bin)
		if err != nil {
			done <- time.Time{}
			return
		}
		for range 4 {
			f.Write(make([]byte, 1<<16))
			time.Sleep(70 * time.Millisecond)
		}
		f.Close()
		done <- time.Now()
	}()
	wantChanged(t, next(t, w), bin)
	last := <-done
	if last.IsZero() {
		t.Fatal("could not write the binary")
	}
	if time.Now().Before(last) {
		t.Errorf("the change was reported before the last write")
	}
	if st, err := os.Stat(bin); err != nil || st.Size() != 4<<16 {
		t.Errorf("after the change the file is %v, %v; want it complete", st, err)
	}
}

func TestStableWaitsForTheFileToExist(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "node")
	write(t, bin, "old")
	w := newWatcher(t, Set{Stable: []string{bin}})
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(400 * time.Millisecond)
		os.WriteFile(bin, []byte("new"), 0o755)
	}()
	wantChanged(t, next(t, w), bin)
	if _, err := os.Stat(bin); err != nil {
		t.Errorf("reported before the file was written again: %v", err)
	}
}

func TestTree(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, ".gitignore"), "*.log\n/out\n")
	write(t, filepath.Join(root, ".dockerignore"), "docs\n")
	write(t, filepath.Join(root, "main.go"), "package main")
	write(t, filepath.Join(root, "internal/store/store.go"), "package store")
	write(t, filepath.Join(root, "docs/notes.md"), "")
	write(t, filepath.Join(root, ".clstr/logs/events.log"), "")
	write(t, filepath.Join(root, "data/state"), "")
	skip, err := Sources(root)
	if err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t, Set{Trees: []Tree{{Dir: root, Skip: skip}}})

	tests := []struct {
		name   string
		ignore []string // written first, must not be reported
		change string   // then written, must be reported
	}{
		{"top-level source", []string{"app.log", "out/node"}, "main.go"},
		{"nested source", []string{"internal/store/debug.log", "internal/store/store.go.swp", "internal/store/.#store.go"}, "internal/store/store.go"},
		{"clstr's logs and a node's data", []string{".clstr/logs/n1.log", "data/state"}, "Dockerfile"},
		{"docker-ignored", []string{"docs/notes.md"}, "go.mod"},
		{"new directory", nil, "pkg/raft/raft.go"},
		{"file in the new directory", nil, "pkg/raft/log.go"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.ignore {
				write(t, filepath.Join(root, p), "x")
			}
			write(t, filepath.Join(root, tc.change), "y")
			got := next(t, w)
			want := filepath.Join(root, tc.change)
			if tc.name == "new directory" {
				// The directory's creation is a change of its own; what was
				// created in it before it was watched may be reported too.
				pkg := filepath.Join(root, "pkg")
				if !slices.Contains(got, pkg) {
					t.Errorf("changed %q; want %s among them", got, pkg)
				}
				for _, p := range got {
					if p != pkg && filepath.Dir(p) != pkg && filepath.Dir(filepath.Dir(p)) != pkg {
						t.Errorf("changed %q: %s is not in the new directory", got, p)
					}
				}
				return
			}
			wantChanged(t, got, want)
		})
	}
}

func TestGlobs(t *testing.T) {
	dir := t.TempDir()
	w := newWatcher(t, Set{Globs: []string{filepath.Join(dir, "*.star")}})
	write(t, filepath.Join(dir, "README.md"), "")
	write(t, filepath.Join(dir, ".stage.star.swp"), "")
	write(t, filepath.Join(dir, "common.star"), "")
	wantChanged(t, next(t, w), filepath.Join(dir, "common.star"))
}

func TestWatchReplacesFiles(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "lib")
	old, script := filepath.Join(sub, "old.star"), filepath.Join(dir, "stage.star")
	write(t, old, "")
	write(t, script, "")
	w := newWatcher(t, Set{Files: []string{script, old}})
	if err := w.Watch(Set{Files: []string{script}}); err != nil {
		t.Fatal(err)
	}
	write(t, old, "no longer loaded")
	write(t, script, "changed")
	wantChanged(t, next(t, w), script)
}

func TestChangesWaitForNext(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "stage.star")
	write(t, script, "")
	w := newWatcher(t, Set{Files: []string{script}})
	// A save while nobody waits (a run is going on) is kept.
	write(t, script, "x")
	time.Sleep(200 * time.Millisecond)
	wantChanged(t, next(t, w), script)
}

func TestNextStops(t *testing.T) {
	dir := t.TempDir()
	w := newWatcher(t, Set{Files: []string{filepath.Join(dir, "stage.star")}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	if _, err := w.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel: %v; want context.Canceled", err)
	}
	w.Close()
	if _, err := w.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v; want ErrClosed", err)
	}
}

func TestWatchMissingDirectory(t *testing.T) {
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Watch(Set{Files: []string{filepath.Join(t.TempDir(), "none", "stage.star")}}); err == nil {
		t.Error("watching a file in a directory that does not exist: no error")
	}
}
