// Package challenges holds clstr's built-in challenges and loads
// challenges written in Starlark, so that they sit in one registry with
// challenges written in Go.
//
// A Starlark challenge is a directory with a manifest, challenge.json (see
// Manifest), that names its stages in order; each stage is a .star script
// and, beside it, a Markdown description for the learner. The built-in
// challenges are embedded in FS and registered into registry.Default when
// this package is imported:
//
//	import _ "github.com/clstr-dev/clstr/challenges"
//
// after which registry.Lookup("kv-store") finds them as it finds a
// challenge a Go package registered with registry.RegisterChallenge; a
// stage's Suite loads its script with the clstr standard library. A
// community challenge is read from disk with LoadDir and registered the
// same way.
//
// The built-in challenge kv-store has five stages: http-api, persistence
// and crash-recovery (kv-store/*.star, one node), then leader-election and
// log-replication (raft/election.star and raft/replication.star, five
// nodes). The scripts also run straight from the file tree:
//
//	clstr run challenges/raft/election.star --binary ./raft-node
package challenges

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/internal/inroot"
	"github.com/clstr-dev/clstr/registry"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/stdlib"
)

// FS holds the built-in challenges: one directory per challenge with a
// challenge.json, and the directories of stages they share (raft/).
//
//go:embed */challenge.json */*.star */*.md
var FS embed.FS

func init() {
	cs, err := Builtin()
	if err != nil {
		// The embedded files are part of the program: a broken manifest is
		// a mistake in it, which the package's tests catch.
		panic("challenges: " + err.Error())
	}
	for _, c := range cs {
		registry.Default.RegisterBuiltin(c.Key, c)
	}
}

// journey is the order in which clstr lists its challenges, easiest
// first: a newcomer starts with the first. Others follow by directory.
var journey = []string{"kv-store", "raft", "gossip"}

// Builtin reads the built-in challenges from FS, one for each directory
// with a challenge.json, in the journey's order. Their stages load their
// scripts from FS when they run.
func Builtin() ([]*registry.Challenge, error) {
	manifests, err := fs.Glob(FS, "*/"+ManifestName)
	if err != nil {
		return nil, err
	}
	rank := func(m string) int {
		if i := slices.Index(journey, path.Dir(m)); i >= 0 {
			return i
		}
		return len(journey)
	}
	slices.SortStableFunc(manifests, func(a, b string) int { return cmp.Compare(rank(a), rank(b)) })
	var out []*registry.Challenge
	for _, m := range manifests {
		c, err := Load(FS, path.Dir(m))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Load reads the challenge whose manifest is dir/challenge.json in fsys.
// Stage scripts, the modules they load by relative path, and descriptions
// may lie anywhere in fsys. Scripts are compiled when a stage's Suite is
// called, from a copy of the .star files of fsys in a temporary
// directory, since starlark.Load reads from disk.
func Load(fsys fs.FS, dir string) (*registry.Challenge, error) {
	return load(fsSource{fsys}, dir, false)
}

// LoadDir reads a challenge from a directory on disk, such as a community
// challenge: dir/challenge.json names its stages, and its scripts, their
// relative loads and its descriptions must lie inside dir. Every stage
// script is loaded once here (parsed, resolved and its top level run, no
// cluster started), so that a mistake in any of them is reported now with
// its file:line:col. Its scripts run sandboxed under the default limits;
// see LoadDirWith.
func LoadDir(dir string) (*registry.Challenge, error) {
	return LoadDirWith(dir, DirOptions{})
}

// DirOptions say how LoadDirWith runs a challenge's scripts.
type DirOptions struct {
	// Trust runs the scripts unsandboxed: only for a challenge whose
	// author the user trusts (clstr's --trust).
	Trust bool
	// Limits are the sandbox's limits; nil means starlark.DefaultLimits.
	Limits *starlark.Limits
}

// LoadDirWith is LoadDir with the sandbox's limits, or none.
func LoadDirWith(dir string, opts DirOptions) (*registry.Challenge, error) {
	var lim *starlark.Limits
	if !opts.Trust {
		lim = opts.Limits
		if lim == nil {
			d := starlark.DefaultLimits()
			lim = &d
		}
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("challenge directory %s: not a directory", dir)
	}
	return load(diskSource{root, lim}, ".", true)
}

// A source is where a challenge's files are: the embedded FS or a
// directory on disk.
type source interface {
	// files is the tree manifests, scripts and descriptions are read from.
	files() fs.FS
	// load loads the stage script at slash path script in files().
	load(script string) (*starlark.Script, error)
	// name is how errors name a path of files().
	name(p string) string
}

func load(src source, dir string, check bool) (*registry.Challenge, error) {
	mpath := path.Join(dir, ManifestName)
	data, err := fs.ReadFile(src.files(), mpath)
	if err != nil {
		return nil, fmt.Errorf("read the challenge manifest %s: %w", src.name(mpath), unwrapPath(err))
	}
	m, err := parseManifest(src.name(mpath), data)
	if err != nil {
		return nil, err
	}
	c := &registry.Challenge{Key: m.Key, Name: m.Name, Summary: m.Summary}
	var errs []error
	for _, ms := range m.Stages {
		st, err := stage(src, dir, ms, check)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: stage %s: %w", src.name(mpath), ms.Key, err))
			continue
		}
		c.Add(st)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// stage makes the registry stage of a manifest entry.
func stage(src source, dir string, ms ManifestStage, check bool) (*registry.Stage, error) {
	script, err := resolve(dir, ms.Script)
	if err != nil {
		return nil, fmt.Errorf("script %w", err)
	}
	if _, err := fs.Stat(src.files(), script); err != nil {
		return nil, fmt.Errorf("script %s: %w", src.name(script), unwrapPath(err))
	}
	descPath := ms.Description
	optional := descPath == ""
	if optional {
		descPath = strings.TrimSuffix(ms.Script, ".star") + ".md"
	}
	if descPath, err = resolve(dir, descPath); err != nil {
		return nil, fmt.Errorf("description %w", err)
	}
	desc, err := fs.ReadFile(src.files(), descPath)
	switch {
	case optional && errors.Is(err, fs.ErrNotExist):
		desc = nil
	case err != nil:
		return nil, fmt.Errorf("description %s: %w", src.name(descPath), unwrapPath(err))
	}
	if check {
		if _, err := src.load(script); err != nil {
			return nil, err
		}
	}
	return &registry.Stage{
		Key:         ms.Key,
		Title:       ms.Title,
		Summary:     ms.Summary,
		Description: string(desc),
		Suite: func() (*attest.Suite, error) {
			s, err := src.load(script)
			if err != nil {
				return nil, err
			}
			return s.Suite(), nil
		},
	}, nil
}

// unwrapPath drops the *fs.PathError around err, whose path the caller
// names better, and says "file does not exist" for a missing file whatever
// the file system.
func unwrapPath(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fs.ErrNotExist
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// diskSource is a challenge directory on disk; scripts load from it in
// place, and may not load anything outside it.
type diskSource struct {
	root    string
	sandbox *starlark.Limits // nil trusts the scripts
}

// files follows no symbolic link out of the challenge's directory: a
// description that links to ~/.ssh/id_rsa is refused.
func (d diskSource) files() fs.FS { return inroot.FS(d.root) }

func (d diskSource) name(p string) string {
	return displayPath(filepath.Join(d.root, filepath.FromSlash(p)))
}

func (d diskSource) load(script string) (*starlark.Script, error) {
	return starlark.Load(filepath.Join(d.root, filepath.FromSlash(script)), starlark.Options{Stdlib: stdlib.FS, Root: d.root, Sandbox: d.sandbox})
}

// displayPath names a file relative to the working directory when it is
// inside it, as script positions do.
func displayPath(p string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return p
}

// fsSource is a tree that is not on disk, such as the embedded FS.
type fsSource struct{ fsys fs.FS }

func (s fsSource) files() fs.FS { return s.fsys }

func (s fsSource) name(p string) string { return p }

// load copies the tree's .star files into a temporary directory, loads
// the script from there and removes the copy: starlark.Load reads files
// from disk, and a loaded script needs its files no more.
func (s fsSource) load(script string) (*starlark.Script, error) {
	tmp, err := os.MkdirTemp("", "clstr-stage-")
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", script, err)
	}
	defer os.RemoveAll(tmp)
	err = fs.WalkDir(s.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".star") {
			return err
		}
		data, err := fs.ReadFile(s.fsys, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: copy the scripts: %w", script, err)
	}
	return starlark.Load(filepath.Join(tmp, filepath.FromSlash(script)), starlark.Options{Stdlib: stdlib.FS, Root: tmp, NameRoot: tmp})
}
