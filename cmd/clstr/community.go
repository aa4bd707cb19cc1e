package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/challenges"
	"github.com/clstr-dev/clstr/registry"
	"github.com/clstr-dev/clstr/starlark"
)

// A community challenge is one that is not built in: a directory with a
// challenge.json, or an archive of one. clstr init starts it like a
// built-in one, and clstr.yaml keeps where it is (the source key); test,
// next and status load it from there, and run its stages sandboxed, as
// clstr run runs a script that is not built in.

// sourceDir is where init unpacks an archived challenge, inside the new
// challenge directory.
const sourceDir = "challenge"

// isChallengeSource reports whether init's CHALLENGE argument names a
// community challenge rather than a built-in one.
func isChallengeSource(arg string) bool {
	if starlark.IsArchive(arg) {
		return true
	}
	st, err := os.Stat(filepath.Join(arg, challenges.ManifestName))
	return err == nil && !st.IsDir()
}

// loadSource loads the community challenge at dir (relative to the
// challenge directory ws), under opts.
func loadSource(ws, dir string, opts challenges.DirOptions) (*registry.Challenge, error) {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(ws, dir)
	}
	c, err := challenges.LoadDirWith(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("the challenge in %s: %w", dir, err)
	}
	return c, nil
}

// prepareSource makes a community challenge ready for a new challenge
// directory ws: a directory is used where it is; an archive is unpacked
// into ws/challenge. It returns the challenge and the source key's value.
func prepareSource(arg, ws string) (*registry.Challenge, string, error) {
	if !starlark.IsArchive(arg) {
		abs, err := filepath.Abs(arg)
		if err != nil {
			return nil, "", err
		}
		c, err := loadSource(ws, abs, challenges.DirOptions{})
		return c, abs, err
	}
	dest := filepath.Join(ws, sourceDir)
	if _, err := os.Lstat(dest); err == nil {
		return nil, "", fmt.Errorf("%s already exists, and clstr init never overwrites a file: give a new directory (clstr init CHALLENGE DIR)", dest)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, "", err
	}
	if err := starlark.Unpack(arg, dest); err != nil {
		os.RemoveAll(dest)
		return nil, "", err
	}
	// The manifest is at the top of the archive, or in its one directory.
	rel := sourceDir
	if _, err := os.Stat(filepath.Join(dest, challenges.ManifestName)); errors.Is(err, fs.ErrNotExist) {
		if entries, _ := os.ReadDir(dest); len(entries) == 1 && entries[0].IsDir() {
			rel = filepath.Join(sourceDir, entries[0].Name())
		}
	}
	c, err := loadSource(ws, rel, challenges.DirOptions{})
	if err != nil {
		os.RemoveAll(dest)
		return nil, "", err
	}
	return c, filepath.ToSlash(rel), nil
}

// learnerWorkspace opens the challenge directory for test and next. A
// built-in challenge runs trusted. A community one runs sandboxed: the
// command goes on in a confined child (ok is false in the parent, which
// only waits for it), whose stages load under the sandbox's limits.
func learnerWorkspace(c *cli.Context) (w *workspace, ok bool, err error) {
	data, err := os.ReadFile(progressFile)
	if err != nil || progressValue(data, "source") == "" {
		if err := c.Set(flagTrust, "true"); err != nil {
			return nil, false, err
		}
		w, err := openWorkspace(".", registry.Default)
		return w, err == nil, err
	}
	if confined, err := runConfined(c); confined || err != nil {
		return nil, false, err
	}
	lim, err := scriptLimits(c)
	if err != nil {
		return nil, false, err
	}
	w, err = openWorkspaceWith(".", registry.Default, challenges.DirOptions{Trust: lim == nil, Limits: lim})
	return w, err == nil, err
}
