package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/starlark"
)

// A script that is not a built-in challenge runs sandboxed: under the
// limits of these flags, in confined containers with no route out of the
// cluster (docs/sandbox.md). --trust turns the sandbox off.
//
// A command that runs scripts adds sandboxFlags() to its flags, then
// takes sandboxLimits(c) for starlark.Options.Sandbox and nodeLimits(c)
// for docker.Options.Sandbox; both are nil with --trust. A command running
// a built-in challenge, which clstr trusts, need not offer them.

// Flag names of the sandbox beyond the script's limits.
const (
	flagTrust      = "trust"
	flagNodeMemory = "node-memory"
	flagNodeCPUs   = "node-cpus"
	flagNodePids   = "node-pids"
)

// limitUsage says what each limit flag bounds.
var limitUsage = map[string]string{
	starlark.FlagSteps:            "Starlark execution steps of one test",
	starlark.FlagTestTime:         "wall time of one test",
	starlark.FlagStageTime:        "wall time of the stage's tests together",
	starlark.FlagNodes:            "nodes the script may ask for",
	starlark.FlagConcurrently:     "calls of one concurrently()",
	starlark.FlagConcurrencyLimit: "suite's concurrency_limit",
	starlark.FlagRequestBody:      "bytes of one request body",
	starlark.FlagResponseBody:     "bytes of a response body read",
	starlark.FlagRequests:         "requests of the stage",
	starlark.FlagSleep:            "total of sleep() in the stage",
	starlark.FlagDepth:            "depth of the Starlark call stack",
	starlark.FlagMemory:           "heap the script's values may take",
	starlark.FlagOutput:           "bytes print() and log() may write",
}

// sandboxFlags are the flags of the sandbox, each limit showing its
// default.
func sandboxFlags() []cli.Flag {
	const cat = "Sandbox (for scripts that are not built in; docs/sandbox.md)"
	flags := []cli.Flag{
		&cli.BoolFlag{Name: flagTrust, Category: cat, Usage: "run the script unsandboxed: only a challenge whose author you trust"},
	}
	def := starlark.DefaultLimits()
	shown := map[string]string{
		starlark.FlagSteps:            strconv.FormatUint(def.Steps, 10),
		starlark.FlagTestTime:         def.TestTime.String(),
		starlark.FlagStageTime:        def.StageTime.String(),
		starlark.FlagNodes:            strconv.Itoa(def.Nodes),
		starlark.FlagConcurrently:     strconv.Itoa(def.Concurrently),
		starlark.FlagConcurrencyLimit: strconv.Itoa(def.ConcurrencyLimit),
		starlark.FlagRequestBody:      sizeText(def.RequestBody),
		starlark.FlagResponseBody:     sizeText(def.ResponseBody),
		starlark.FlagRequests:         strconv.FormatInt(def.Requests, 10),
		starlark.FlagSleep:            def.Sleep.String(),
		starlark.FlagDepth:            strconv.Itoa(def.Depth),
		starlark.FlagMemory:           sizeText(def.Memory),
		starlark.FlagOutput:           sizeText(def.Output),
	}
	for _, name := range starlark.LimitFlags {
		flags = append(flags, &cli.StringFlag{Name: name, Category: cat, Usage: "limit on the " + limitUsage[name], DefaultText: shown[name]})
	}
	node := docker.DefaultSandboxLimits()
	return append(flags,
		&cli.StringFlag{Name: flagNodeMemory, Category: cat, Usage: "limit on the memory of each node's container", DefaultText: sizeText(node.Memory)},
		&cli.StringFlag{Name: flagNodeCPUs, Category: cat, Usage: "limit on the CPUs of each node's container", DefaultText: strconv.FormatFloat(node.CPUs, 'g', -1, 64)},
		&cli.StringFlag{Name: flagNodePids, Category: cat, Usage: "limit on the processes of each node's container", DefaultText: strconv.FormatInt(node.Pids, 10)},
	)
}

// sizeText renders a size as ParseSize reads it: "1GiB", "4MiB".
func sizeText(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// scriptLimits reads the script's limits from the flags; nil with
// --trust. A limit the user did not set keeps its default.
func scriptLimits(c *cli.Context) (*starlark.Limits, error) {
	if c.Bool(flagTrust) || !offersSandbox(c) {
		return nil, nil
	}
	lim := starlark.DefaultLimits()
	for _, name := range starlark.LimitFlags {
		if !c.IsSet(name) {
			continue
		}
		if err := lim.Set(name, c.String(name)); err != nil {
			return nil, usageError{fmt.Sprintf("%s: %v", c.Command.Name, err)}
		}
	}
	stderr := c.App.ErrWriter
	lim.Runaway = func(e *starlark.LimitError) {
		// The script is stuck inside one operation that nothing can
		// interrupt, and may take the machine's memory with it.
		fmt.Fprintf(stderr, "clstr: %v\nclstr: the script does not stop: quitting without cleaning up; run 'clstr clean' to remove what is left\n", e)
		os.Exit(exitError)
	}
	return &lim, nil
}

// sandboxLimits returns the script's limits for starlark.Options.Sandbox:
// nil with --trust. Flags nodeLimits has checked cannot fail here; should
// one, the defaults hold, never no sandbox.
func sandboxLimits(c *cli.Context) *starlark.Limits {
	lim, err := scriptLimits(c)
	if err != nil {
		d := starlark.DefaultLimits()
		return &d
	}
	return lim
}

// nodeLimits reads the containers' limits from the flags, and checks the
// script's: nil with --trust.
func nodeLimits(c *cli.Context) (*docker.SandboxLimits, error) {
	if _, err := scriptLimits(c); err != nil {
		return nil, err
	}
	if c.Bool(flagTrust) || !offersSandbox(c) {
		return nil, nil
	}
	lim := docker.DefaultSandboxLimits()
	bad := func(name, want string) error {
		return usageError{fmt.Sprintf("%s: --%s %q: want %s", c.Command.Name, name, c.String(name), want)}
	}
	if c.IsSet(flagNodeMemory) {
		n, err := starlark.ParseSize(c.String(flagNodeMemory))
		if err != nil || n < 8<<20 {
			return nil, bad(flagNodeMemory, "a size of at least 8MiB such as \"512MiB\"")
		}
		lim.Memory = n
	}
	if c.IsSet(flagNodeCPUs) {
		f, err := strconv.ParseFloat(c.String(flagNodeCPUs), 64)
		if err != nil || f < 0.01 {
			return nil, bad(flagNodeCPUs, "a number of CPUs such as 1 or 0.5")
		}
		lim.CPUs = f
	}
	if c.IsSet(flagNodePids) {
		n, err := strconv.ParseInt(c.String(flagNodePids), 10, 64)
		if err != nil || n < 8 {
			return nil, bad(flagNodePids, "a number of processes of at least 8")
		}
		lim.Pids = n
	}
	return &lim, nil
}

// offersSandbox reports whether the command has the sandbox's flags: one
// that runs only built-in challenges does not, and runs them trusted.
func offersSandbox(c *cli.Context) bool {
	if c.Command == nil {
		return false
	}
	for _, f := range c.Command.Flags {
		for _, name := range f.Names() {
			if name == flagTrust {
				return true
			}
		}
	}
	return false
}

// scriptFrom returns the script that the SCRIPT argument names. An
// argument ARCHIVE:PATH, where ARCHIVE is a .tar.gz, .tgz or .zip of a
// challenge directory, names the script at PATH inside it: the archive is
// unpacked safely into a temporary directory, which done removes.
func scriptFrom(c *cli.Context, arg string) (script string, done func(), err error) {
	done = func() {}
	archive, inner, ok := cutArchive(arg)
	if !ok {
		if starlark.IsArchive(arg) {
			return "", done, usageError{fmt.Sprintf("%s: name the stage inside the archive: clstr %s %s:stage.star", c.Command.Name, c.Command.Name, arg)}
		}
		return arg, done, nil
	}
	if c.Bool("watch") {
		return "", done, usageError{fmt.Sprintf("%s: --watch needs the script on disk: unpack %s and run the script in it", c.Command.Name, archive)}
	}
	if !filepath.IsLocal(inner) {
		return "", done, usageError{fmt.Sprintf("%s: %s: the stage must be a relative path inside the archive", c.Command.Name, arg)}
	}
	dir, err := os.MkdirTemp("", "clstr-challenge-")
	if err != nil {
		return "", done, err
	}
	done = func() { os.RemoveAll(dir) }
	if err := starlark.Unpack(archive, dir); err != nil {
		done()
		return "", func() {}, err
	}
	return filepath.Join(dir, inner), done, nil
}

// cutArchive splits "c.tar.gz:stage.star" into the archive and the path
// inside it.
func cutArchive(arg string) (archive, inner string, ok bool) {
	i := strings.LastIndex(arg, ":")
	if i < 0 || !starlark.IsArchive(arg[:i]) {
		return "", "", false
	}
	return arg[:i], arg[i+1:], true
}
