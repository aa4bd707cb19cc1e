package starlark

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/clstr-dev/clstr/internal/inroot"
)

// StdlibPrefix starts the name of a module from clstr's standard library:
// load("@stdlib//raft.star", "find_leader").
const StdlibPrefix = "@stdlib//"

// fileOptions are the dialect clstr scripts are written in: while loops,
// recursion, top-level control flow and sets are allowed.
var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: false, Recursion: true}

// Dialect returns the options clstr parses scripts with, for tools that
// read scripts without running them (a copy: the caller may not change
// the runner's).
func Dialect() *syntax.FileOptions {
	o := *fileOptions
	return &o
}

// A module is one compiled file of a bundle.
type module struct {
	key   string // "@stdlib//x.star" or an absolute path
	name  string // how positions name it: a path relative to the working directory
	prog  *starlark.Program
	loads map[string]string // load name as written → key
}

// Bundle is a script and every module it loads, parsed and resolved, ready
// to run. Compiling a bundle checks every file before anything runs, so a
// typo is reported in milliseconds with its file:line:col.
type Bundle struct {
	main    string
	modules map[string]*module
	byName  map[string]*module
	stdlib  fs.FS
}

// CompileOptions configure Compile.
type CompileOptions struct {
	// Stdlib is the standard library; nil means none.
	Stdlib fs.FS
	// Predeclared reports the names the builtins define.
	Predeclared func(name string) bool
	// Root is the directory relative loads may not leave; "" means the
	// script's own directory.
	Root string
	// Sandbox bounds the files of an untrusted script: at most
	// MaxModules modules of at most MaxModuleSize bytes each.
	Sandbox bool
	// NameRoot, if set, is the directory that files are named relative to
	// in positions and errors, instead of the working directory: for
	// scripts copied out of an embedded tree, which should be named as in
	// that tree.
	NameRoot string
}

// The bounds of a sandboxed script's files.
const (
	MaxModuleSize  = 1 << 20
	MaxModules     = 1000
	MaxSourceBytes = 8 << 20
)

// Compile parses and resolves the script at path and, transitively, every
// module it loads.
func Compile(scriptPath string, opts CompileOptions) (*Bundle, error) {
	abs, err := filepath.Abs(scriptPath)
	if err != nil {
		return nil, err
	}
	root := opts.Root
	if root == "" {
		root = filepath.Dir(abs)
	}
	if root, err = filepath.Abs(root); err != nil {
		return nil, err
	}
	b := &Bundle{main: abs, modules: map[string]*module{}, byName: map[string]*module{}, stdlib: opts.Stdlib}
	c := &compiler{b: b, root: root, opts: opts, active: map[string]bool{}}
	if err := c.compile(abs, "", "", syntax.Position{}); err != nil {
		return nil, err
	}
	return b, nil
}

type compiler struct {
	b      *Bundle
	root   string
	opts   CompileOptions
	active map[string]bool // modules being compiled: a load cycle
	bytes  int64           // of the files read so far
}

// compile compiles the module key, which from loads as loadName at the
// position at (from is "" for the script itself), and its loads.
func (c *compiler) compile(key, from, loadName string, at syntax.Position) error {
	if _, done := c.b.modules[key]; done {
		return nil
	}
	if c.active[key] {
		return posError(at, fmt.Sprintf("load cycle: %s loads itself again", c.displayName(key)))
	}
	c.active[key] = true
	defer delete(c.active, key)

	if c.opts.Sandbox && len(c.b.modules)+len(c.active) > MaxModules {
		return posError(at, fmt.Sprintf("cannot load %s: a sandboxed script may load at most %d modules", loadName, MaxModules))
	}
	src, err := c.read(key, loadName)
	if err != nil {
		if from == "" {
			return err
		}
		return posError(at, err.Error())
	}
	src = bytes.TrimPrefix(src, []byte("\ufeff")) // a byte order mark, as some editors write
	name := c.displayName(key)
	predeclared := c.opts.Predeclared
	if predeclared == nil {
		predeclared = func(string) bool { return false }
	}
	_, prog, err := starlark.SourceProgramOptions(fileOptions, name, src, predeclared)
	if err != nil {
		return err
	}
	m := &module{key: key, name: name, prog: prog, loads: map[string]string{}}
	for i := 0; i < prog.NumLoads(); i++ {
		loadName, pos := prog.Load(i)
		dep, err := c.resolve(key, loadName)
		if err != nil {
			return posError(pos, err.Error())
		}
		m.loads[loadName] = dep
		if err := c.compile(dep, key, loadName, pos); err != nil {
			return err
		}
	}
	c.b.modules[key] = m
	c.b.byName[name] = m
	return nil
}

// resolve turns a load name into a module key: a stdlib name, or a path
// relative to the loading file that stays inside the root directory.
func (c *compiler) resolve(from, name string) (string, error) {
	if rest, ok := strings.CutPrefix(name, StdlibPrefix); ok {
		if c.opts.Stdlib == nil {
			return "", fmt.Errorf("cannot load %s: no standard library here", name)
		}
		clean := path.Clean(rest)
		if !fs.ValidPath(clean) {
			return "", fmt.Errorf("cannot load %s: not a standard library module", name)
		}
		return StdlibPrefix + clean, nil
	}
	if strings.HasPrefix(name, "@") {
		return "", fmt.Errorf("cannot load %s: the only repository is @stdlib", name)
	}
	if filepath.IsAbs(name) {
		return "", fmt.Errorf("cannot load %s: use a path relative to the script, inside %s", name, c.root)
	}
	dir := c.root
	if !strings.HasPrefix(from, StdlibPrefix) {
		dir = filepath.Dir(from)
	} else {
		return "", fmt.Errorf("cannot load %s from the standard library: it may load only @stdlib// modules", name)
	}
	p := filepath.Join(dir, filepath.FromSlash(name))
	if !inside(c.root, p) {
		return "", fmt.Errorf("cannot load %s: it is outside the script's directory %s", name, c.root)
	}
	// A symlink may not lead out of the directory either.
	if real, err := filepath.EvalSymlinks(p); err == nil {
		realRoot, rerr := filepath.EvalSymlinks(c.root)
		if rerr == nil && !inside(realRoot, real) {
			return "", fmt.Errorf("cannot load %s: it links outside the script's directory %s", name, c.root)
		}
	}
	return p, nil
}

func inside(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// read returns the source of the module key, loaded as loadName ("" for
// the script itself).
func (c *compiler) read(key, loadName string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(key, StdlibPrefix); ok {
		src, err := fs.ReadFile(c.opts.Stdlib, rest)
		if err != nil {
			return nil, fmt.Errorf("cannot load %s: no such standard library module", key)
		}
		return src, nil
	}
	src, err := readFile(c.root, key, c.opts.Sandbox)
	if err == nil && c.opts.Sandbox {
		// Compiling costs time and memory before any limit runs: the
		// files together are bounded too.
		if c.bytes += int64(len(src)); c.bytes > MaxSourceBytes {
			err = fmt.Errorf("a sandboxed script's files may hold at most %d bytes together", MaxSourceBytes)
		}
	}
	switch {
	case err == nil:
		return src, nil
	case loadName == "" && errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("cannot read the script %s: no such file", c.displayName(key))
	case loadName == "":
		return nil, fmt.Errorf("cannot read the script %s: %w", c.displayName(key), err)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("cannot load %s: no such file (looked for %s)", loadName, c.displayName(key))
	}
	return nil, fmt.Errorf("cannot load %s: %w", loadName, err)
}

// readFile reads a module inside root: a regular file (never a device or
// a pipe, which could block or never end) reached through no symbolic
// link that leaves root, of at most MaxModuleSize bytes when sandboxed.
func readFile(root, name string, sandbox bool) ([]byte, error) {
	var max int64
	if sandbox {
		max = MaxModuleSize
	}
	src, err := inroot.ReadFile(root, name, max)
	if errors.Is(err, inroot.ErrEscapes) {
		return nil, fmt.Errorf("it links outside the script's directory %s", root)
	}
	return src, err
}

// displayName names a module the way errors show it: stdlib modules by
// their load name, files relative to NameRoot or else to the working
// directory when inside it.
func (c *compiler) displayName(key string) string {
	if strings.HasPrefix(key, StdlibPrefix) {
		return key
	}
	base := c.opts.NameRoot
	if base == "" {
		base, _ = os.Getwd()
	}
	if base != "" {
		if rel, err := filepath.Rel(base, key); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.ToSlash(rel)
		}
	}
	return key
}

// posError is an error at a script position, printed "file:line:col: msg".
func posError(pos syntax.Position, msg string) error {
	return syntax.Error{Pos: pos, Msg: msg}
}

// Files returns the files on disk the bundle was compiled from (the script
// and its relative loads), for a watcher to watch.
func (b *Bundle) Files() []string {
	var out []string
	for key := range b.modules {
		if !strings.HasPrefix(key, StdlibPrefix) {
			out = append(out, key)
		}
	}
	return out
}

// Name returns the script's display name.
func (b *Bundle) Name() string { return b.modules[b.main].name }

// execution runs a bundle's modules, each once, sharing their globals.
type execution struct {
	b           *Bundle
	predeclared starlark.StringDict
	mu          sync.Mutex // guards done
	done        map[string]*loadResult
}

type loadResult struct {
	globals starlark.StringDict
	err     error
}

// exec runs the main script on thread, loading modules on demand (each
// once per run), and returns its globals.
func (b *Bundle) exec(thread *starlark.Thread, predeclared starlark.StringDict) (starlark.StringDict, error) {
	e := &execution{b: b, predeclared: predeclared, done: map[string]*loadResult{}}
	thread.Load = e.load
	return e.run(thread, b.modules[b.main])
}

func (e *execution) run(thread *starlark.Thread, m *module) (starlark.StringDict, error) {
	g, err := m.prog.Init(thread, e.predeclared)
	g.Freeze()
	return g, err
}

func (e *execution) load(thread *starlark.Thread, name string) (starlark.StringDict, error) {
	from := e.b.byName[thread.CallFrame(0).Pos.Filename()]
	if from == nil {
		return nil, fmt.Errorf("cannot load %s: loading module unknown", name)
	}
	key, ok := from.loads[name]
	if !ok {
		return nil, fmt.Errorf("cannot load %s: not resolved before the run", name)
	}
	e.mu.Lock()
	r, done := e.done[key]
	e.mu.Unlock()
	if done {
		if r == nil {
			return nil, fmt.Errorf("cannot load %s: load cycle", name)
		}
		return r.globals, r.err
	}
	e.mu.Lock()
	e.done[key] = nil
	e.mu.Unlock()
	g, err := e.run(thread, e.b.modules[key])
	if err != nil {
		// The interpreter keeps only the message of a load's error; the
		// module's own position and backtrace go into it.
		err = scriptError(err, 0)
	}
	e.mu.Lock()
	e.done[key] = &loadResult{g, err}
	e.mu.Unlock()
	return g, err
}
