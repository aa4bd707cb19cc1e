// Package watch tells when files change, for clstr run --watch.
//
// A Watcher watches a Set: single files (a script and the modules it
// loads), files that are written in several steps (a binary being linked),
// directory trees (a target's sources) and file-name patterns. Everything
// is watched through its directory, never the file itself, so that an
// editor that saves by writing a new file and renaming it over the old one
// is seen like any other save. Next reports the changes of a burst once,
// after a quiet period, and a file written in steps only once it has
// stopped changing.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Set is what a Watcher watches. Paths may be relative to the working
// directory; Next reports them absolute.
type Set struct {
	// Files are watched one by one.
	Files []string
	// Stable files are written in several steps, such as a binary a
	// build is writing: a change to one is reported once the file exists
	// and its size and modification time have stopped changing.
	Stable []string
	// Trees are watched with every directory below them.
	Trees []Tree
	// Globs are patterns of file names in one directory, in the syntax of
	// filepath.Match ("/src/stage/*.star"). Editors' temporary files never
	// match.
	Globs []string
}

// Tree is a directory watched with everything below it.
type Tree struct {
	Dir string
	// Skip reports whether the path rel (slash-separated, relative to
	// Dir) is left out, and with a directory everything below it; isDir
	// says whether it is a directory. Nil leaves nothing out. Editors'
	// temporary files are always left out.
	Skip func(rel string, isDir bool) bool
}

// Options tune a Watcher; zero values mean the defaults.
type Options struct {
	// Debounce is the quiet period that ends a burst of changes: 150ms.
	Debounce time.Duration
	// Settle is how long a Stable file must stay unchanged: 150ms.
	Settle time.Duration
}

// ErrClosed is returned by Next once the Watcher is closed.
var ErrClosed = errors.New("watch: closed")

// Watcher watches a Set. Its methods are safe for concurrent use.
type Watcher struct {
	opts   Options
	fsw    *fsnotify.Watcher
	notify chan struct{} // signalled, without blocking, when pending grows
	done   chan struct{} // closed when the event loop has ended
	loopWG sync.WaitGroup

	mu      sync.Mutex // guards the fields below
	files   map[string]bool
	stable  map[string]bool
	globs   []string
	trees   map[string]Tree   // by directory
	dirs    map[string]string // watched directory → the tree it belongs to, "" for a file's directory
	pending map[string]bool   // changed paths not yet reported
	gen     int               // counts changes, to see new ones during a wait
	err     error             // an error of the watcher, reported by the next Next
}

// New returns a Watcher that watches nothing yet; Watch says what to watch.
func New(opts Options) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = 150 * time.Millisecond
	}
	if opts.Settle <= 0 {
		opts.Settle = 150 * time.Millisecond
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{
		opts:    opts,
		fsw:     fsw,
		notify:  make(chan struct{}, 1),
		done:    make(chan struct{}),
		files:   map[string]bool{},
		stable:  map[string]bool{},
		trees:   map[string]Tree{},
		dirs:    map[string]string{},
		pending: map[string]bool{},
	}
	w.loopWG.Add(1)
	go w.loop()
	return w, nil
}

// Close stops watching. Next returns ErrClosed afterwards.
func (w *Watcher) Close() error {
	err := w.fsw.Close()
	w.loopWG.Wait()
	return err
}

// Watch replaces what w watches with s. Trees already watched are kept as
// they are; a tree that is new is walked now. Changes seen before the call
// and not reported yet stay pending.
func (w *Watcher) Watch(s Set) error {
	files, err := absAll(s.Files)
	if err != nil {
		return err
	}
	stable, err := absAll(s.Stable)
	if err != nil {
		return err
	}
	globs, err := absAll(s.Globs)
	if err != nil {
		return err
	}
	trees := map[string]Tree{}
	for _, t := range s.Trees {
		dir, err := filepath.Abs(t.Dir)
		if err != nil {
			return err
		}
		t.Dir = dir
		trees[dir] = t
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.files, w.stable, w.globs = setOf(files), setOf(stable), globs
	want := map[string]string{}
	for dir, t := range trees {
		if _, ok := w.trees[dir]; ok {
			for d, tree := range w.dirs {
				if tree == dir {
					want[d] = dir
				}
			}
			continue
		}
		w.trees[dir] = t
		if err := walkTree(t, func(d string) { want[d] = dir }); err != nil {
			delete(w.trees, dir)
			return err
		}
	}
	for dir := range w.trees {
		if _, ok := trees[dir]; !ok {
			delete(w.trees, dir)
		}
	}
	for _, p := range append(append(files, stable...), globs...) {
		d := filepath.Dir(p)
		if _, ok := want[d]; !ok {
			want[d] = ""
		}
	}
	for d := range w.dirs {
		if _, ok := want[d]; !ok {
			// The directory may be gone already, and its watch with it.
			_ = w.fsw.Remove(d)
			delete(w.dirs, d)
		}
	}
	for d, tree := range want {
		if _, ok := w.dirs[d]; !ok {
			if err := w.fsw.Add(d); err != nil {
				return fmt.Errorf("watch %s: %w", d, err)
			}
		}
		w.dirs[d] = tree
	}
	return nil
}

// Next waits for changes and returns the paths that changed, sorted, once
// a burst of changes has been quiet for the debounce period and every
// Stable file among them has settled. Changes made while nobody waits in
// Next are kept for the next call.
func (w *Watcher) Next(ctx context.Context) ([]string, error) {
	for {
		if err := w.wait(ctx); err != nil {
			return nil, err
		}
		if err := w.quiet(ctx); err != nil {
			return nil, err
		}
		w.mu.Lock()
		gen := w.gen
		var settle []string
		for p := range w.pending {
			if w.stable[p] {
				settle = append(settle, p)
			}
		}
		w.mu.Unlock()
		for _, p := range settle {
			if err := w.settle(ctx, p); err != nil {
				return nil, err
			}
		}
		w.mu.Lock()
		if w.gen != gen {
			// More changed while the files settled: wait for that burst
			// to end too.
			w.mu.Unlock()
			continue
		}
		changed := make([]string, 0, len(w.pending))
		for p := range w.pending {
			changed = append(changed, p)
		}
		clear(w.pending)
		w.mu.Unlock()
		if len(changed) > 0 {
			slices.Sort(changed)
			return changed, nil
		}
	}
}

// wait returns once something is pending.
func (w *Watcher) wait(ctx context.Context) error {
	for {
		w.mu.Lock()
		n, err := len(w.pending), w.err
		w.err = nil
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		select {
		case <-w.notify:
		case <-w.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// quiet returns once no change has come for the debounce period.
func (w *Watcher) quiet(ctx context.Context) error {
	t := time.NewTimer(w.opts.Debounce)
	defer t.Stop()
	for {
		select {
		case <-w.notify:
			t.Reset(w.opts.Debounce)
		case <-t.C:
			return nil
		case <-w.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settle returns once the file at p exists and its size and modification
// time have not changed for the settle period.
func (w *Watcher) settle(ctx context.Context, p string) error {
	last, lastErr := os.Stat(p)
	for {
		select {
		case <-time.After(w.opts.Settle):
		case <-w.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
		st, err := os.Stat(p)
		if err == nil && lastErr == nil && st.Size() == last.Size() && st.ModTime().Equal(last.ModTime()) {
			return nil
		}
		last, lastErr = st, err
	}
}

// loop takes the notifier's events until it is closed.
func (w *Watcher) loop() {
	defer w.loopWG.Done()
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.event(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.mu.Lock()
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: every tree may have changed.
				for dir := range w.trees {
					w.pending[dir] = true
				}
				w.gen++
			} else {
				w.err = fmt.Errorf("watch: %w", err)
			}
			w.mu.Unlock()
			w.signal()
		}
	}
}

func (w *Watcher) signal() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// event records ev if it concerns what is watched, and starts watching a
// directory created inside a tree.
func (w *Watcher) event(ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.relevant(p, ev.Op) {
		return
	}
	w.pending[p] = true
	w.gen++
	w.signal()
}

// relevant reports whether a change to p matters, adding watches for a
// new directory in a tree. It is called with w.mu held.
func (w *Watcher) relevant(p string, op fsnotify.Op) bool {
	if w.files[p] || w.stable[p] {
		return true
	}
	base := filepath.Base(p)
	if isTemporary(base) {
		return false
	}
	for _, g := range w.globs {
		if ok, _ := filepath.Match(g, p); ok {
			return true
		}
	}
	treeDir, inTree := w.dirs[filepath.Dir(p)]
	if !inTree || treeDir == "" {
		return false
	}
	t := w.trees[treeDir]
	rel, err := filepath.Rel(t.Dir, p)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	_, wasDir := w.dirs[p]
	if wasDir && (op.Has(fsnotify.Remove) || op.Has(fsnotify.Rename)) {
		// The directory is gone, and its watch with it; forget it and
		// what was below it, so that it is watched again if it returns.
		for d := range w.dirs {
			if d == p || strings.HasPrefix(d, p+string(filepath.Separator)) {
				_ = w.fsw.Remove(d)
				delete(w.dirs, d)
			}
		}
	}
	isDir := wasDir
	if st, err := os.Lstat(p); err == nil {
		isDir = st.IsDir()
	}
	if t.Skip != nil && t.Skip(rel, isDir) {
		return false
	}
	if isDir && op.Has(fsnotify.Create) {
		// A new directory (mkdir, or one renamed into place): watch it and
		// what is below it. Files created in it before the watch was added
		// are seen by the walk, not as events, but the directory's own
		// event already counts as a change.
		_ = walkTree(Tree{Dir: p, Skip: func(r string, d bool) bool {
			return t.Skip != nil && t.Skip(path(rel, r), d)
		}}, func(d string) {
			if _, ok := w.dirs[d]; !ok && w.fsw.Add(d) == nil {
				w.dirs[d] = treeDir
			}
		})
	}
	return true
}

func path(dir, rel string) string {
	if rel == "." || rel == "" {
		return dir
	}
	return dir + "/" + rel
}

// walkTree calls add for t.Dir and every directory below it that t.Skip
// does not leave out.
func walkTree(t Tree, add func(dir string)) error {
	return filepath.WalkDir(t.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != t.Dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != t.Dir {
			rel, err := filepath.Rel(t.Dir, p)
			if err != nil {
				return err
			}
			if t.Skip != nil && t.Skip(filepath.ToSlash(rel), true) {
				return filepath.SkipDir
			}
		}
		add(p)
		return nil
	})
}

// isTemporary reports whether a file name is an editor's or a tool's
// scratch file rather than a source: vim's swap files and write probe,
// Emacs's lock and autosave files, backups ending in ~.
func isTemporary(name string) bool {
	switch {
	case strings.HasSuffix(name, "~"),
		strings.HasSuffix(name, ".swp"), strings.HasSuffix(name, ".swx"), strings.HasSuffix(name, ".swo"),
		strings.HasPrefix(name, ".#"),
		strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"),
		name == "4913", name == ".DS_Store":
		return true
	}
	return false
}

func absAll(paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func setOf(paths []string) map[string]bool {
	m := make(map[string]bool, len(paths))
	for _, p := range paths {
		m[p] = true
	}
	return m
}
