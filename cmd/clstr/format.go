package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bazelbuild/buildtools/build"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/internal/inroot"
)

func fmtCommand() *cli.Command {
	return &cli.Command{
		Name:      "fmt",
		Usage:     "format Starlark scripts",
		ArgsUsage: "[FILE|DIR…]",
		Description: "Formats .star files in the one layout every clstr script shares: four-space indents,\n" +
			"one blank line between top-level definitions, spaces around operators, double quotes.\n" +
			"It changes only the layout: it never reorders statements, loads or arguments. A directory\n" +
			"means every .star file below it; no file means standard input.\n\n" +
			"Without -w or -d, the formatted files are printed. With -w, each file that is not\n" +
			"formatted is rewritten in place (atomically). With -d, a diff of what would change is\n" +
			"printed, and the exit status is 1 if a file is not formatted, which makes\n" +
			"`clstr fmt -d .` a check for CI.\n\n" +
			"Exit status: 0 done (with -d: every file is formatted), 1 with -d: a file is not\n" +
			"formatted, 2 a file could not be parsed or written (or bad usage).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "w", Usage: "rewrite the files that are not formatted"},
			&cli.BoolFlag{Name: "d", Usage: "print a diff of the changes and exit 1 if there are any"},
		},
		Action: fmtAction,
	}
}

func fmtAction(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	write, diff := c.Bool("w"), c.Bool("d")
	if c.NArg() == 0 {
		if write {
			return usageError{"fmt: -w needs files to rewrite: clstr fmt -w FILE…"}
		}
		src, err := io.ReadAll(c.App.Reader)
		if err != nil {
			return err
		}
		out, err := formatStar("<stdin>", src)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return exitStatus(exitError)
		}
		if diff {
			if !bytes.Equal(src, out) {
				io.WriteString(stdout, unifiedDiff("<stdin>", src, out))
				return exitStatus(exitFail)
			}
			return nil
		}
		stdout.Write(out)
		return nil
	}
	files, err := starFiles(c.Args().Slice())
	if err != nil {
		return err
	}
	failed, changed := false, false
	for _, f := range files {
		src, err := inroot.ReadFile("", f, 0)
		if err != nil {
			fmt.Fprintf(stderr, "clstr: %s: %v\n", f, err)
			failed = true
			continue
		}
		out, err := formatStar(f, src)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			failed = true
			continue
		}
		same := bytes.Equal(src, out)
		changed = changed || !same
		if diff && !same {
			io.WriteString(stdout, unifiedDiff(f, src, out))
		}
		if write && !same {
			if err := writeAtomically(f, out); err != nil {
				fmt.Fprintf(stderr, "clstr: %v\n", err)
				failed = true
			}
		}
		if !write && !diff {
			stdout.Write(out)
		}
	}
	switch {
	case failed:
		return exitStatus(exitError)
	case diff && changed:
		return exitStatus(exitFail)
	}
	return nil
}

// whileLoop finds a while loop, which clstr's dialect allows and the
// formatter's parser does not know.
var whileLoop = regexp.MustCompile(`(?m)^[ \t]*while[ \t(]`)

// formatStar returns src in the canonical layout. It only prints what it
// parsed: none of the formatter's rewrites for Bazel files (sorted loads,
// reordered arguments) are applied.
func formatStar(name string, src []byte) ([]byte, error) {
	f, err := build.ParseDefault(name, src)
	if err != nil {
		if whileLoop.Match(src) {
			return nil, fmt.Errorf("%v\n(clstr fmt cannot format a script with a while loop yet; it is left as it is)", err)
		}
		return nil, err
	}
	return build.FormatWithoutRewriting(f), nil
}

// writeAtomically replaces the file at path by data, keeping its mode: the
// data goes to a new file beside it, which is then renamed over it, so the
// file is never seen half written.
func writeAtomically(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".fmt-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(st.Mode().Perm())
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	return nil
}

// unifiedDiff is the diff from src to out, as diff -u prints it.
func unifiedDiff(name string, src, out []byte) string {
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(src)),
		B:        difflib.SplitLines(string(out)),
		FromFile: name,
		ToFile:   name + " (formatted)",
		Context:  3,
	})
	if err != nil {
		return fmt.Sprintf("%s: not formatted (%v)\n", name, err)
	}
	if !strings.HasSuffix(d, "\n") {
		d += "\n"
	}
	return d
}
