package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/stdlib"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "find what clstr run would reject in scripts and the modules they load, without Docker",
		ArgsUsage: "SCRIPT|DIR…",
		Description: "Checks each script, and every module it loads, for what clstr run rejects before it\n" +
			"starts a cluster: syntax, undefined names, loads that lead nowhere or name what a module\n" +
			"does not define; suite() twice or with a wrong argument, a stage with no test (a stage's\n" +
			"top level runs, sandboxed); and for likely typos: an attribute no value has (.eventualy),\n" +
			"a statement that builds a check and never runs it (get(\"n1\", \"/health\").status(200)\n" +
			"without .run()). It needs no Docker daemon; a directory means every .star file below it.\n" +
			"It prints nothing when all is well, and file:line:col: message for every problem of\n" +
			"every script.\n\n" +
			"Exit status: 0 every script is fine, 2 a script has an error (or bad usage).",
		Action: checkAction,
	}
}

func checkAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError{"check: give the scripts to check: clstr check SCRIPT…"}
	}
	files, err := starFiles(c.Args().Slice())
	if err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	bad := 0
	for _, f := range files {
		if err := starlark.Vet(f, starlark.Options{Stdlib: stdlib.FS}); err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			bad++
		}
	}
	if bad > 0 {
		return exitStatus(exitError)
	}
	return nil
}

// starFiles expands the arguments: a file is itself, a directory every
// .star file below it (leaving out hidden directories such as .git and
// .clstr), in lexical order.
func starFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, usageError{fmt.Sprintf("%s: no such file or directory", a)}
			}
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != a && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".star") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}
