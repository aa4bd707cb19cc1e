// Package supervisor is the first program of a node's container in a suite
// that asks for durability. It serves the node's data directory through
// durafs, runs the node's program without any capability, and loses power
// when the runner tells it to.
//
// The runner copies a static Linux clstr into the node's container as Path
// and makes it the entrypoint, under an init process that forwards
// signals. Started under the name Name, clstr runs Main instead of its
// command line:
//
//	clstr-durafs supervise -data DIR -store DIR [-user UID[:GID]] -- PROGRAM ARGS…
//	clstr-durafs replay -store DIR [-force]
//	clstr-durafs check
//
// supervise mounts STORE/data (with its journal in STORE/journal) at DIR,
// starts the program, and forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT,
// SIGUSR1 and SIGUSR2 to it. When the program exits, the file system is
// unmounted and the journal kept: a stop or a kill loses nothing, and what
// was not durable before stays not durable. SIGPWR is the power loss: the
// supervisor kills the program's process group, brings the backing
// directory to its durable state, and exits with ExitPowerLost. If it is killed on the way, the next supervise
// finishes the power loss before mounting, and so does replay;
// replay -force loses power on the store of a node that is down.
//
// check says whether the container can serve a durable file system.
//
// The supervisor runs on Linux only; on other systems the package holds
// only the names the runner needs.
package supervisor

// Names and paths shared with the runner.
const (
	// Name is the name under which clstr runs as the supervisor.
	Name = "clstr-durafs"
	// Path is where the runner puts the supervisor in a node's container.
	Path = "/.clstr-durafs"
	// Store is where the runner mounts the node's volume in durable mode:
	// the backing directory and the journal.
	Store = "/.clstr-store"
	// BackingDir is the backing directory's name in the store.
	BackingDir = "data"
)

// Exit statuses of the supervisor itself.
const (
	// ExitCannotServe: the data directory could not be served (no
	// /dev/fuse, no permission to mount, a damaged journal).
	ExitCannotServe = 86
	// ExitPowerLost: the power was lost as asked, and the data directory
	// holds only what was durable.
	ExitPowerLost = 87
	// ExitUsage: the supervisor was started with arguments it does not
	// know.
	ExitUsage = 88
)
