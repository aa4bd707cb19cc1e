package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/internal/bytesize"
	"github.com/clstr-dev/clstr/internal/confine"
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

// sandboxFlags are the flags of the sandbox, each limit showing its
// default.
func sandboxFlags() []cli.Flag {
	const cat = "Sandbox (for scripts that are not built in; docs/sandbox.md)"
	flags := []cli.Flag{
		&cli.BoolFlag{Name: flagTrust, Category: cat, Usage: "run the script unsandboxed: only a challenge whose author you trust"},
	}
	for _, f := range starlark.LimitFlags() {
		flags = append(flags, &cli.StringFlag{Name: f.Name, Category: cat, Usage: "limit on the " + f.Usage, DefaultText: f.Default})
	}
	node := docker.DefaultSandboxLimits()
	return append(flags,
		&cli.StringFlag{Name: flagNodeMemory, Category: cat, Usage: "limit on the memory of each node's container", DefaultText: bytesize.Format(node.Memory)},
		&cli.StringFlag{Name: flagNodeCPUs, Category: cat, Usage: "limit on the CPUs of each node's container", DefaultText: strconv.FormatFloat(node.CPUs, 'g', -1, 64)},
		&cli.StringFlag{Name: flagNodePids, Category: cat, Usage: "limit on the processes of each node's container", DefaultText: strconv.FormatInt(node.Pids, 10)},
	)
}

// scriptLimits reads the script's limits from the flags; nil with
// --trust. A limit the user did not set keeps its default.
func scriptLimits(c *cli.Context) (*starlark.Limits, error) {
	if c.Bool(flagTrust) || !offersSandbox(c) {
		return nil, nil
	}
	lim := starlark.DefaultLimits()
	for _, f := range starlark.LimitFlags() {
		if !c.IsSet(f.Name) {
			continue
		}
		if err := lim.Set(f.Name, c.String(f.Name)); err != nil {
			return nil, usageError{fmt.Sprintf("%s: %v", c.Command.Name, err)}
		}
	}
	stderr := c.App.ErrWriter
	lim.Runaway = func(e *starlark.LimitError) {
		// The script is stuck inside one operation that nothing can
		// interrupt, and may take the machine's memory with it. The
		// parent that started this process removes the cluster.
		fmt.Fprintf(stderr, "clstr: %v\n", e)
		if confinedChild {
			os.Exit(confine.ExitRunaway)
		}
		fmt.Fprintf(stderr, "clstr: the script does not stop: quitting without cleaning up; run 'clstr clean' to remove what is left\n")
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
		n, err := bytesize.Parse(c.String(flagNodeMemory))
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

// cliArgs is the command line run was given: a confined child runs the
// same.
var cliArgs []string

// confinedChild is set in a process that runConfined started: it runs
// the script; its parent watches.
var confinedChild bool

// runConfined runs a sandboxed command in a child process, the clstr
// executable started again with the same command line, whose memory the
// kernel bounds (internal/confine), and waits for it. The child does the
// work: loads the script, runs the cluster, prints, writes the logs and
// the JUnit report. The parent outlives whatever the script does: when
// the child dies (out of memory, a crash) or stops itself because the
// script would not stop, the parent says which limit ended it, in one
// line, and removes every container, network and volume the child made.
//
// It returns false, doing nothing, in the child itself and when the
// command runs trusted.
func runConfined(c *cli.Context) (bool, error) {
	if confinedChild || len(cliArgs) == 0 {
		return false, nil
	}
	lim, err := scriptLimits(c)
	if err != nil || lim == nil {
		return false, err
	}
	if _, err := nodeLimits(c); err != nil {
		return false, err
	}
	exe, err := os.Executable()
	if err != nil {
		return true, fmt.Errorf("find the clstr executable to run the script in: %w", err)
	}
	stderr := c.App.ErrWriter
	// What the child creates carries this process's owner label. The
	// child writes straight to this process's standard output, through a
	// ciWriter of its own on GitHub Actions, where its annotations must
	// reach the runner as they are; standard error passes through this
	// process's ciWriter too, as do the lines the child's runtime writes.
	owner := docker.Owner()
	out, err := confine.Run(exe, cliArgs, []string{docker.OwnerEnv + "=" + owner}, confine.Budget(lim.Memory), rawWriter(c.App.Writer), stderr)
	if err != nil {
		return true, err
	}
	switch {
	case out.OutOfMemory:
		e := lim.Exceeded(starlark.FlagMemory, "")
		fmt.Fprintf(stderr, "clstr: %s\n", strings.Replace(e.Error(), "exceeded at the top level of the script",
			"exceeded: the script's process ran out of the "+bytesize.Format(confine.Budget(lim.Memory))+" the kernel allows it", 1))
	case out.Crash != "":
		fmt.Fprintf(stderr, "clstr: the script's process died (%s); this is a bug in clstr, or pass --trust for a challenge you trust\n", out.Crash)
	case out.Status == confine.ExitRunaway:
		// The child named the limit.
	default:
		return true, exitStatus(out.Status)
	}
	removeLeftovers(c.Context, stderr, owner)
	return true, exitStatus(exitError)
}

// removeLeftovers removes what a child labelled with owner left of its
// cluster.
func removeLeftovers(ctx context.Context, stderr io.Writer, owner string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	cli, err := docker.Connect(ctx)
	if err != nil {
		return // no daemon: the child made nothing
	}
	defer cli.Close()
	if _, err := docker.Clean(ctx, cli, docker.CleanOptions{Owner: owner}); err != nil {
		fmt.Fprintf(stderr, "clstr: remove the script's cluster: %v; run 'clstr clean'\n", err)
	}
}
