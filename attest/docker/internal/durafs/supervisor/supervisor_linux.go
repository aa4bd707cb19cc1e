//go:build linux

package supervisor

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/clstr-dev/clstr/attest/docker/internal/durafs"
)

// powerLossMarker, in the store, says that a power loss has begun and is
// not finished: the next supervisor replays it before mounting.
const powerLossMarker = "power-loss"

// Main runs the supervisor's command line and returns its exit status.
func Main(args []string) int {
	if len(args) == 0 {
		return usage()
	}
	switch args[0] {
	case "supervise":
		return supervise(args[1:])
	case "exec":
		return execProgram(args[1:])
	case "replay":
		fl := flag.NewFlagSet("replay", flag.ContinueOnError)
		store := fl.String("store", Store, "")
		force := fl.Bool("force", false, "lose power even if no power loss began")
		if fl.Parse(args[1:]) != nil {
			return usage()
		}
		if *force {
			if err := os.WriteFile(filepath.Join(*store, powerLossMarker), nil, 0o600); err != nil {
				return fail(ExitCannotServe, err)
			}
		}
		if err := replay(*store); err != nil {
			return fail(ExitCannotServe, err)
		}
		return 0
	case "check":
		if err := durafs.Check(""); err != nil {
			return fail(ExitCannotServe, err)
		}
		return 0
	}
	return usage()
}

func usage() int {
	fmt.Fprintln(os.Stderr, "usage: "+Name+" supervise -data DIR -store DIR [-user UID[:GID]] -- PROGRAM ARGS… | replay -store DIR [-force] | check")
	return ExitUsage
}

func fail(status int, err error) int {
	fmt.Fprintf(os.Stderr, "%s: %v\n", Name, err)
	return status
}

// replay finishes a power loss that began and was cut short.
func replay(store string) error {
	marker := filepath.Join(store, powerLossMarker)
	if _, err := os.Stat(marker); err != nil {
		return nil
	}
	if err := durafs.Replay(filepath.Join(store, BackingDir), journalDir(store)); err != nil {
		return fmt.Errorf("finish the power loss: %w", err)
	}
	return os.Remove(marker)
}

func journalDir(store string) string { return filepath.Join(store, "journal") }

// forwarded are the signals the program receives as if sent to it.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

func supervise(args []string) int {
	fl := flag.NewFlagSet("supervise", flag.ContinueOnError)
	data := fl.String("data", "", "the data directory to serve")
	store := fl.String("store", Store, "the directory of the backing directory and journal")
	user := fl.String("user", "", "the user to run the program as: UID[:GID]")
	if fl.Parse(args) != nil || *data == "" || fl.NArg() == 0 {
		return usage()
	}
	argv := fl.Args()
	backing := filepath.Join(*store, BackingDir)
	if err := makeBacking(backing, *data); err != nil {
		return fail(ExitCannotServe, err)
	}
	if err := replay(*store); err != nil {
		return fail(ExitCannotServe, err)
	}
	s, err := durafs.Mount(backing, *data, durafs.Options{Journal: journalDir(*store), AllowOther: true})
	if err != nil {
		return fail(ExitCannotServe, err)
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, append(forwarded, syscall.SIGPWR)...)
	// The program starts as this same executable, which drops every
	// privilege in the child before it executes the program: Go cannot
	// run code between fork and exec.
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	cmd := &exec.Cmd{
		Path:   self,
		Args:   append([]string{Name, "exec", "-user", *user, "--"}, argv...),
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		// A process group of its own, which the power loss kills whole.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		return fail(ExitCannotServe, errors.Join(err, s.Unmount()))
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGPWR {
				return powerLoss(s, *store, cmd.Process.Pid, exited)
			}
			_ = cmd.Process.Signal(sig)
		case err := <-exited:
			// The journal stays: the page cache outlives the program,
			// and a later power loss still loses what it never synced.
			if uerr := s.Unmount(); uerr != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", Name, uerr)
			}
			return exitStatus(err)
		}
	}
}

// makeBacking creates the backing directory and the mount point. A new
// backing directory takes the owner and mode of the image's own data
// directory, as Docker gives a fresh volume those of the directory it is
// mounted on, so that an image whose user owns it can still write there.
func makeBacking(backing, data string) error {
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(backing); err == nil {
		return nil
	}
	if err := os.MkdirAll(backing, 0o755); err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(data, &st); err != nil {
		return err
	}
	if err := os.Chown(backing, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return syscall.Chmod(backing, st.Mode&0o7777)
}

// powerLoss kills the program's process group, then loses what was not
// durable. A process that left the group is not waited for: from now on
// the file system fails its every operation, and the runner's kill of the
// container ends it.
func powerLoss(s *durafs.Server, store string, pgid int, exited <-chan error) int {
	marker := filepath.Join(store, powerLossMarker)
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return fail(ExitCannotServe, fmt.Errorf("power loss: %w", err))
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fail(ExitCannotServe, fmt.Errorf("power loss: kill the program: %w", err))
	}
	<-exited
	if err := s.PowerLoss(); err != nil {
		return fail(ExitCannotServe, fmt.Errorf("power loss: %w", err))
	}
	if err := os.Remove(marker); err != nil {
		return fail(ExitCannotServe, fmt.Errorf("power loss: %w", err))
	}
	return ExitPowerLost
}

// exitStatus is the status to exit with after the program ended with err,
// as a shell reports it.
func exitStatus(err error) int {
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return fail(ExitCannotServe, err)
}

// execProgram becomes the node's program, without privileges.
func execProgram(args []string) int {
	fl := flag.NewFlagSet("exec", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	user := fl.String("user", "", "")
	if fl.Parse(args) != nil || fl.NArg() == 0 {
		return usage()
	}
	argv := fl.Args()
	if err := becomeUser(*user); err != nil {
		return fail(ExitCannotServe, err)
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			return fail(127, err)
		}
		path = p
	}
	return fail(126, durafs.ExecUnprivileged(path, argv, os.Environ()))
}

// becomeUser switches to the user the image names, as numbers: a FROM
// scratch image has no user database to look names up in.
func becomeUser(user string) error {
	if user == "" || user == "0" || user == "root" || user == "0:0" {
		return nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		return fmt.Errorf("the image's user %q: a suite with durability runs the program as a numeric UID[:GID]; use USER 1000:1000 in the image", user)
	}
	gid := uid
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil {
			return fmt.Errorf("the image's user %q: a suite with durability runs the program as a numeric UID[:GID]", user)
		}
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("set groups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("set group %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("set user %d: %w", uid, err)
	}
	return nil
}
