package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/internal/session"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/stdlib"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a stage script against a program started as a cluster",
		ArgsUsage: "SCRIPT | ARCHIVE:SCRIPT",
		Description: "Starts the program as the cluster the script declares, runs the script's tests in order\n" +
			"and stops at the first failure. The program is a directory with a Dockerfile (--target,\n" +
			"by default the current directory), an image already on the Docker daemon (--image), or a\n" +
			"static Linux binary that clstr wraps FROM scratch (--binary). A sandboxed run needs one of\n" +
			"them given: it builds no Dockerfile it is not pointed at. Logs go to " + logDir + ".\n\n" +
			"Exit status: 0 passed, 1 the target failed, 2 clstr could not judge.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "target", Usage: "build the program from the Dockerfile in `DIR`", DefaultText: "."},
			&cli.StringFlag{Name: "image", Usage: "run the existing image `TAG`"},
			&cli.StringFlag{Name: "binary", Usage: "wrap the static Linux executable at `PATH` FROM scratch"},
			&cli.StringFlag{Name: "run", Usage: "run only the tests whose names match `REGEX`"},
			&cli.StringSliceFlag{Name: "env", Usage: "add `KEY=VALUE` to every node's environment (repeatable)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the output of the image build"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "run again whenever the script, a module it loads or the target changes"},
			seedFlag(),
			junitFlag(),
			reportFlag(),
		}, sandboxFlags()...),
		Action: reportingErrors(func(c *cli.Context) string { return c.Args().First() }, runAction),
	}
}

func runAction(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	if c.NArg() != 1 {
		return usageError{"run: give one script: clstr run [flags] SCRIPT"}
	}
	if ok, err := runConfined(c); ok || err != nil {
		return err
	}
	script, done, err := scriptFrom(c, c.Args().First())
	if err != nil {
		return err
	}
	defer done()
	if _, err := os.Stat(script); errors.Is(err, fs.ErrNotExist) && !c.Bool("watch") {
		// Named before anything else is looked at.
		return fmt.Errorf("cannot read the script %s: no such file", c.Args().First())
	}
	opts, err := dockerOptions(c)
	if err != nil {
		return err
	}
	var filter *regexp.Regexp
	if expr := c.String("run"); expr != "" {
		if filter, err = regexp.Compile(expr); err != nil {
			return usageError{fmt.Sprintf("run: --run %q is not a regular expression: %v", expr, err)}
		}
	}
	out := newOutput(stdout)
	reps, err := reporters(c, describeTarget(opts))
	if err != nil {
		return err
	}
	if c.Bool("watch") {
		return watchAction(c, out, script, nil, opts, filter, reps)
	}
	sess := openSession(c, out, opts, reps, filter)
	defer sess.Close()

	// The script is checked before anything else happens: a typo costs
	// milliseconds, not a cluster start.
	s, err := starlark.Load(script, loadOptions(c, out))
	if err != nil {
		return exitStatus(couldNotRun(sess, stderr, session.Unloaded{Key: c.Args().First()}, "the script did not load", err, err.Error()))
	}
	if filter != nil && !matchesAny(filter, s.TestNames()) {
		fmt.Fprintf(stderr, "clstr: --run %q matches none of the tests: %s\n", filter, strings.Join(s.TestNames(), ", "))
		return exitStatus(exitError)
	}
	if err := checkTarget(c, opts); err != nil {
		return err
	}
	sess.Run(c.Context, s)
	return exitStatus(sess.Close())
}

// loadOptions are the options every script of a run is loaded with.
func loadOptions(c *cli.Context, out *output) starlark.Options {
	return starlark.Options{Stdlib: stdlib.FS, Print: out.print, Sandbox: sandboxLimits(c)}
}

// dockerOptions reads which program to run from the flags.
func dockerOptions(c *cli.Context) (docker.Options, error) {
	var opts docker.Options
	given := 0
	for _, f := range []string{"target", "image", "binary"} {
		if c.IsSet(f) {
			given++
		}
	}
	if given > 1 {
		return opts, usageError{c.Command.Name + ": give one of --target, --image and --binary"}
	}
	opts.Image = c.String("image")
	opts.Binary = c.String("binary")
	if opts.Image == "" && opts.Binary == "" {
		opts.Dir = c.String("target")
		if opts.Dir == "" {
			// A Dockerfile's RUN steps run with the network at build
			// time: a sandboxed run builds only the one it is pointed at,
			// never the one of the directory it happens to run in (a
			// challenge's own, say).
			if lim, _ := scriptLimits(c); lim != nil {
				return opts, usageError{c.Command.Name + ": a sandboxed run builds no Dockerfile it is not pointed at: give --target DIR, --image TAG or --binary PATH"}
			}
			opts.Dir = "."
		}
		if st, err := os.Stat(opts.Dir); err != nil || !st.IsDir() {
			return opts, usageError{fmt.Sprintf("%s: --target %s is not a directory", c.Command.Name, opts.Dir)}
		}
	}
	if opts.Binary != "" {
		if st, err := os.Stat(opts.Binary); err != nil || st.IsDir() {
			return opts, usageError{fmt.Sprintf("%s: --binary %s is not a file", c.Command.Name, opts.Binary)}
		}
	}
	for _, kv := range c.StringSlice("env") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return opts, usageError{fmt.Sprintf("%s: --env %q: write it as KEY=VALUE", c.Command.Name, kv)}
		}
		if opts.Env == nil {
			opts.Env = map[string]string{}
		}
		opts.Env[k] = v
	}
	var err error
	opts.Sandbox, err = nodeLimits(c)
	return opts, err
}

// checkTarget refuses a program that cannot run before Docker is asked
// anything: a --binary that is no static Linux executable, a --target
// with no Dockerfile.
func checkTarget(c *cli.Context, opts docker.Options) error {
	if err := docker.CheckTarget(opts); err != nil {
		return fmt.Errorf("%s: %w", c.Command.Name, errors.Unwrap(err))
	}
	return nil
}

func describeTarget(o docker.Options) string {
	switch {
	case o.Image != "":
		return "image " + o.Image
	case o.Binary != "":
		return "binary " + o.Binary
	}
	return "Dockerfile in " + o.Dir
}

func matchesAny(re *regexp.Regexp, names []string) bool {
	for _, n := range names {
		if re.MatchString(n) {
			return true
		}
	}
	return false
}

// seedFlag is --seed, which replays a run's random choices.
func seedFlag() cli.Flag {
	return &cli.Uint64Flag{Name: "seed", Usage: "draw the script's random choices (rand, nemeses) from seed `N`, as a run that printed it did", DefaultText: "a new one, printed"}
}
