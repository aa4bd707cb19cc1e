// Command clstr runs test stages, written in Starlark, against a program
// that it starts as a cluster of Docker containers.
//
//	clstr run [--target DIR | --image TAG | --binary PATH] [--run REGEX] [--junit FILE] [--report DIR] [--watch] [-v] SCRIPT
//	clstr clean [--all] [--images]
//	clstr doctor
//	clstr check SCRIPT…
//	clstr fmt [-w] [-d] FILE…
//	clstr completion bash|zsh|fish
//
// A learner solving a challenge uses:
//
//	clstr list
//	clstr init CHALLENGE [DIR] [--language LANG]
//	clstr test [STAGE] [--so-far] [--binary PATH | --image TAG] [--junit FILE] [--report DIR]
//	clstr next [--binary PATH | --image TAG] [--junit FILE] [--report DIR]
//	clstr status
//	clstr logs [NODE…] [--follow] [--html FILE]
//
// Exit status: 0 when every test passed; 1 when the target failed (a test
// failed, its image did not build, a node never became healthy); 2 when
// clstr could not judge (bad usage, an error in the script, Docker
// unreachable, an interrupted run).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/internal/confine"
	"github.com/clstr-dev/clstr/registry"
)

// Exit statuses.
const (
	exitPass  = 0
	exitFail  = 1
	exitError = 2
)

// exitStatus is an error that ends the command with a status; its message,
// if any, has been printed already.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a mistake in the command line, printed with a pointer to
// the help.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	// A sandboxed run starts clstr again as a confined child
	// (runConfined); this is where the child knows it is one.
	confinedChild = confine.Enter()
	os.Exit(run(context.Background(), os.Args, os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if onGitHubActions() {
		// No text clstr relays may become a workflow command (ciWriter).
		stdout, stderr = newCIWriter(stdout), newCIWriter(stderr)
	}
	if !registryUsable(registry.Default, stderr) {
		return exitError
	}
	cliArgs = args
	app := newApp(stdout, stderr)
	if typed, current, ok := completionRequest(args); ok {
		for _, w := range complete(app, ".", typed, current) {
			fmt.Fprintln(stdout, w)
		}
		return exitPass
	}
	if err := unknownCommand(app, args); err != nil {
		return reportError(stderr, err)
	}
	return reportError(stderr, app.RunContext(ctx, flagsFirst(app, args)))
}

// reportError prints err, if any, and returns the exit status it means.
func reportError(stderr io.Writer, err error) int {
	var st exitStatus
	var ue usageError
	switch {
	case err == nil:
		return exitPass
	case errors.As(err, &st):
		return int(st)
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "clstr: %s\nRun 'clstr help' for usage.\n", ue.msg)
		return exitError
	}
	fmt.Fprintf(stderr, "clstr: %v\n", err)
	return exitError
}

// registryUsable reports the mistakes of the challenges this program
// registered, which make it unusable, and notes such as a built-in
// challenge replaced by one of the program's.
func registryUsable(r *registry.Registry, stderr io.Writer) bool {
	if err := r.Err(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "clstr: %s\n", line)
		}
		return false
	}
	for _, n := range r.Notes() {
		fmt.Fprintf(stderr, "clstr: note: %s\n", n)
	}
	return true
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "clstr",
		Usage:     "test distributed systems from the outside",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are turned into exit statuses by run, not by the library.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return flagUsageError(c, err)
		},
		HideHelpCommand: false,
		Commands: []*cli.Command{runCommand(), cleanCommand(), doctorCommand(),
			listCommand(), initCommand(), testCommand(), nextCommand(), statusCommand(), logsCommand(),
			checkCommand(), fmtCommand(), completionCommand(), versionCommand()},
	}
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
		switch c.Name {
		case "test", "next", "status", "logs":
			// A learner's commands work from any directory of the challenge.
			c.Before = enterWorkspace
		}
	}
	return app
}

// flagsFirst moves a command's flags before its arguments, so that
// "clstr run election.star --binary ./node" means what it says: the
// command-line library stops reading flags at the first argument.
func flagsFirst(app *cli.App, args []string) []string {
	// A shell asking for completions must find its flag last.
	if len(args) < 3 || args[len(args)-1] == completionFlag {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	var flags, rest []string
	for i := 2; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, hasValue := strings.TrimLeft(a, "-"), strings.Contains(a, "=")
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		if takesValue[name] && !hasValue && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(append(append([]string{}, args[:2]...), flags...), rest...)
}
