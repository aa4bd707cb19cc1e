package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/challenges"
	"github.com/clstr-dev/clstr/internal/atomicfile"
	"github.com/clstr-dev/clstr/registry"
)

// progressFile is the file in a challenge directory that says which
// challenge it solves and which stage the learner is on. Its format is
// clstr.io's, two YAML keys:
//
//	challenge: kv-store
//	stage: http-api
const progressFile = "clstr.yaml"

// progress is what a progress file holds.
type progress struct {
	Challenge string
	Stage     string
}

// errNoProgress says that the current directory holds no challenge.
var errNoProgress = errors.New("no " + progressFile + " here: this is not a challenge directory; " +
	"start one with 'clstr init <challenge>' (see 'clstr list'), then run clstr in the directory it creates")

// encode renders p as a progress file.
func (p progress) encode() []byte {
	return fmt.Appendf(nil, "challenge: %s\nstage: %s\n", p.Challenge, p.Stage)
}

// progressKeys are the keys a progress file may hold: clstr.io's two,
// the report directory, "done: true", which clstr next writes when the
// last stage passed, and, for a community challenge, its source: the
// directory its challenge.json is in.
var progressKeys = []string{"challenge", "stage", "report", "done", "source"}

// byteOrderMark is what some editors write at the start of a text file;
// it is no part of the first key.
var byteOrderMark = []byte("\ufeff")

// parseProgress reads a progress file: "key: value" lines, of which it
// needs challenge and stage. Blank lines, comments and other keys are
// allowed (and kept by withStage; unknownProgressKeys names them); a
// value may be quoted.
func parseProgress(data []byte) (progress, error) {
	var p progress
	seen := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		key, value, ok, err := progressLine(line)
		if err != nil {
			return p, fmt.Errorf("%s:%d: %w", progressFile, i+1, err)
		}
		if !ok {
			continue
		}
		if seen[key] {
			return p, fmt.Errorf("%s:%d: %q is set twice", progressFile, i+1, key)
		}
		seen[key] = true
		switch key {
		case "challenge":
			p.Challenge = value
		case "stage":
			p.Stage = value
		}
	}
	switch {
	case p.Challenge == "":
		return p, fmt.Errorf("%s names no challenge: add a line such as \"challenge: kv-store\"", progressFile)
	case p.Stage == "":
		return p, fmt.Errorf("%s names no stage: add a line such as \"stage: http-api\"", progressFile)
	}
	return p, nil
}

// unknownProgressKeys names the keys of a progress file that clstr does
// not read, each with the key it likely misspells: a note, since other
// tools may keep their own keys there.
func unknownProgressKeys(data []byte) []string {
	var notes []string
	for i, line := range strings.Split(string(data), "\n") {
		if key, _, ok, _ := progressLine(line); ok && !slices.Contains(progressKeys, key) {
			notes = append(notes, fmt.Sprintf("%s:%d: clstr reads no key %q%s; its keys are %s", progressFile, i+1, key, didYouMean(key, progressKeys), strings.Join(progressKeys, ", ")))
		}
	}
	return notes
}

// progressLine splits one line of a progress file into its key and value;
// ok is false for a blank line or a comment.
func progressLine(line string) (key, value string, ok bool, err error) {
	line = strings.TrimRight(strings.TrimPrefix(line, string(byteOrderMark)), "\r")
	trimmed := strings.TrimSpace(line)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") || trimmed == "---" {
		return "", "", false, nil
	}
	if trimmed != line && (line[0] == ' ' || line[0] == '\t') {
		return "", "", false, fmt.Errorf("%q: write one \"key: value\" per line, without indentation", trimmed)
	}
	key, value, found := strings.Cut(trimmed, ":")
	if !found || strings.TrimSpace(key) == "" {
		return "", "", false, fmt.Errorf("%q is not \"key: value\"", trimmed)
	}
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') {
		end := strings.IndexByte(value[1:], value[0])
		if end < 0 {
			return "", "", false, fmt.Errorf("%s: the quote of %s is not closed", key, value)
		}
		return key, value[1 : end+1], true, nil
	}
	// An unquoted YAML value ends at " #", where a comment starts.
	if i := strings.Index(value, " #"); i >= 0 {
		value = strings.TrimSpace(value[:i])
	}
	return key, value, true, nil
}

// withKey returns the progress file data with key set to value, leaving
// every other line as it was.
func withKey(data []byte, key, value string) []byte {
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if k, _, ok, _ := progressLine(line); ok && k == key {
			bom := line[:len(line)-len(strings.TrimPrefix(line, string(byteOrderMark)))]
			lines[i] = bom + key + ": " + value
			return []byte(strings.Join(lines, "\n"))
		}
	}
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
		data = append(data, '\n')
	}
	return append(data, key+": "+value+"\n"...)
}

// withStage returns the progress file data with its stage set to stage.
func withStage(data []byte, stage string) []byte { return withKey(data, "stage", stage) }

// progressValue returns the value of key in the progress file data, ""
// if it has none.
func progressValue(data []byte, key string) string {
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok, _ := progressLine(line); ok && k == key {
			return v
		}
	}
	return ""
}

// workspace is a challenge directory: its progress, and the challenge and
// stage the progress names.
type workspace struct {
	dir       string
	progress  progress
	challenge *registry.Challenge
	index     int  // of the current stage in challenge.Stages
	done      bool // the last stage is current, and it passed
}

// workspaceAbove returns the directory, dir or the nearest above it, that
// holds a progress file, as git and go find theirs; "" if none does.
func workspaceAbove(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		if st, err := os.Stat(filepath.Join(abs, progressFile)); err == nil && !st.IsDir() {
			return abs
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return ""
		}
		abs = parent
	}
}

// enterWorkspace makes the challenge directory that holds the current
// one the current directory, so that a learner's command works from any
// of its subdirectories: its Dockerfile, logs and reports are there.
func enterWorkspace(c *cli.Context) error {
	if _, err := os.Stat(progressFile); err != nil {
		dir := workspaceAbove(".")
		if dir == "" {
			return nil
		}
		if err := os.Chdir(dir); err != nil {
			return err
		}
	}
	if data, err := os.ReadFile(progressFile); err == nil {
		for _, n := range unknownProgressKeys(data) {
			fmt.Fprintf(c.App.ErrWriter, "clstr: note: %s\n", n)
		}
	}
	return nil
}

// openWorkspace reads the progress file in dir and finds its challenge
// and stage in the registry, or, for a community challenge, in its source
// loaded sandboxed under the default limits.
func openWorkspace(dir string, reg *registry.Registry) (*workspace, error) {
	return openWorkspaceWith(dir, reg, challenges.DirOptions{})
}

// openWorkspaceWith is openWorkspace, loading a community challenge with
// opts.
func openWorkspaceWith(dir string, reg *registry.Registry, opts challenges.DirOptions) (*workspace, error) {
	data, err := os.ReadFile(filepath.Join(dir, progressFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoProgress
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", progressFile, err)
	}
	p, err := parseProgress(data)
	if err != nil {
		return nil, err
	}
	var c *registry.Challenge
	if source := progressValue(data, "source"); source != "" {
		if c, err = loadSource(dir, filepath.FromSlash(source), opts); err != nil {
			return nil, fmt.Errorf("%s: %w", progressFile, err)
		}
		if c.Key != p.Challenge {
			return nil, fmt.Errorf("%s: the challenge in %s is %q, not %q: correct the challenge or the source key", progressFile, source, c.Key, p.Challenge)
		}
	} else {
		var ok bool
		if c, ok = reg.Lookup(p.Challenge); !ok {
			return nil, fmt.Errorf("%s: this clstr knows no challenge %q; 'clstr list' shows those it knows", progressFile, p.Challenge)
		}
	}
	w := &workspace{dir: dir, progress: p, challenge: c, index: -1}
	if w.index = stageIndex(c, p.Stage); w.index < 0 {
		return nil, fmt.Errorf("%s: %q is not a stage of %s; its stages are %s%s", progressFile, p.Stage, c.Key, stageKeys(c), didYouMeanStage(c, p.Stage))
	}
	w.done = w.index == len(c.Stages)-1 && progressValue(data, "done") == "true"
	return w, nil
}

// stageIndex returns the index of the stage key in c, or -1.
func stageIndex(c *registry.Challenge, key string) int {
	for i, s := range c.Stages {
		if s.Key == key {
			return i
		}
	}
	return -1
}

// stageKeys lists c's stage keys: "http-api, persistence, …".
func stageKeys(c *registry.Challenge) string {
	keys := make([]string, len(c.Stages))
	for i, s := range c.Stages {
		keys[i] = s.Key
	}
	return strings.Join(keys, ", ")
}

// advance moves the progress file to stage, keeping its other lines.
func (w *workspace) advance(stage string) error {
	if err := w.rewrite(func(data []byte) []byte { return withStage(data, stage) }); err != nil {
		return err
	}
	w.progress.Stage = stage
	w.index = stageIndex(w.challenge, stage)
	return nil
}

// finish records in the progress file that the last stage passed.
func (w *workspace) finish() error {
	if err := w.rewrite(func(data []byte) []byte { return withKey(data, "done", "true") }); err != nil {
		return err
	}
	w.done = true
	return nil
}

// rewrite replaces the progress file by edit of its data.
func (w *workspace) rewrite(edit func([]byte) []byte) error {
	path := filepath.Join(w.dir, progressFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", progressFile, err)
	}
	// An interrupted write must never leave a broken progress file.
	if err := atomicfile.WriteFile(path, edit(data), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", progressFile, err)
	}
	return nil
}
