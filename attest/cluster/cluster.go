// Package cluster defines what the attest engine needs from a runtime that
// runs a user's program as a cluster of nodes, and the values both sides
// share: node specifications, network impairments and the event log. It
// also keeps the fault state and its validation (faults.go) that every
// runtime uses, so that runtimes differ only in how they apply a fault.
//
// The Docker runtime (attest/docker) implements Runtime; the engine (attest)
// only ever talks to these interfaces, so it never sees a container.
package cluster

import (
	"context"
	"fmt"
	"time"
)

// Runtime starts clusters.
type Runtime interface {
	// Create builds or finds the target's image, creates the cluster's
	// network, volumes and nodes, and starts every node. It returns once
	// every node's process has been started; waiting for /health is the
	// engine's job. On error nothing it created is left behind.
	Create(ctx context.Context, spec Spec) (Cluster, error)
}

// Spec describes a cluster to create.
type Spec struct {
	// Nodes is the number of nodes of the initial configuration, named
	// n1 … nN; Create starts them.
	Nodes int
	// Spare is the number of nodes outside the initial configuration,
	// named after them (n(N+1) …). Create makes them ready to start —
	// address, volume, container — but leaves them stopped until the
	// first Start. Each node's environment tells it the initial
	// configuration (CLUSTER), so a spare node knows it is not a member.
	Spare int
	// ShutdownTimeout is how long Stop waits after SIGTERM before SIGKILL.
	ShutdownTimeout time.Duration
	// Events receives lifecycle and fault events. It may be nil.
	Events *EventLog
	// Durable serves every node's DATA_DIR so that a power loss can
	// happen (see PowerLosser).
	Durable bool
}

// NodeNames returns the names of the first count nodes of a cluster:
// n1 … n<count>.
func NodeNames(count int) []string {
	names := make([]string, count)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return names
}

// Cluster is a running set of nodes. Its methods are safe for concurrent
// use; operations on one node are serialised.
type Cluster interface {
	// Nodes returns the node names in order, spare nodes last: n1, n2, …
	Nodes() []string
	// URL returns the base URL at which the runner reaches a node from the
	// host, for example "http://127.0.0.1:49153".
	URL(name string) (string, error)
	// Addr returns the node's address inside the cluster ("10.0.42.101:8080"),
	// which is also its ADDR and its identity.
	Addr(name string) (string, error)

	// Start starts a stopped or killed node.
	Start(ctx context.Context, name string) error
	// Stop sends SIGTERM and, if the node has not exited within the
	// shutdown timeout, SIGKILL; it returns once the node has exited.
	Stop(ctx context.Context, name string) error
	// Kill sends SIGKILL and returns once the node has exited.
	Kill(ctx context.Context, name string) error
	// Running reports whether the node's process is running (a paused
	// node's process is running, frozen).
	Running(name string) bool

	// Pause freezes every process of a running node from outside, as the
	// cgroup freezer does: it gets no CPU, its sockets stay open and its
	// peers see silence, not resets. Pausing a paused node does nothing;
	// pausing one that is not running is an *ErrNotRunning.
	// Stopping or killing a paused node ends the pause with the process;
	// the node starts again unpaused.
	Pause(ctx context.Context, name string) error
	// Resume thaws a paused node; resuming a node that is not paused does
	// nothing.
	Resume(ctx context.Context, name string) error
	// Paused reports whether the node is paused.
	Paused(name string) bool

	// Partition cuts the network between groups, both ways; traffic inside
	// a group is untouched. Nodes in no group keep talking to everyone.
	// A new partition replaces the previous one. Partitions survive
	// restarts of the nodes they cut off. A node in two groups or an
	// empty group is an *ErrInvalidFault (see ValidatePartition).
	Partition(ctx context.Context, groups [][]string) error
	// Cut drops every packet sent from a node of src to a node of dst;
	// the other direction flows. Cuts add to each other and to the
	// partition, and survive restarts like partitions. A node named on
	// both sides is not cut from itself (see ValidateCut).
	Cut(ctx context.Context, src, dst []string) error
	// Heal removes every partition and every cut.
	Heal(ctx context.Context) error
	// Impair applies impairments to the outgoing traffic of the named
	// nodes, replacing any impairments they had. Impairments that do not
	// fit together are an *ErrInvalidFault (see ValidateImpair).
	Impair(ctx context.Context, names []string, imps []Impairment) error
	// ImpairTowards is Impair for the traffic the named nodes send to
	// the nodes of towards only; their other traffic flows unimpaired.
	// An empty towards is Impair.
	ImpairTowards(ctx context.Context, names, towards []string, imps []Impairment) error
	// Repair removes the impairments of the named nodes.
	Repair(ctx context.Context, names []string) error

	// DataSize returns the bytes of the files in the node's DATA_DIR,
	// running or not, measured from outside the node: nothing in its
	// image is needed.
	DataSize(ctx context.Context, name string) (int64, error)

	// LogTail returns up to n of the node's most recent output lines.
	LogTail(name string, n int) []string

	// Close stops every node and removes everything the cluster created.
	Close(ctx context.Context) error
}

// ErrUnknownNode is returned for a node name that is not in the cluster.
// An operation that names one does nothing.
type ErrUnknownNode struct{ Name string }

func (e *ErrUnknownNode) Error() string {
	return fmt.Sprintf("no node named %q in this cluster", e.Name)
}

// TargetError marks an error caused by the program under test — its image
// does not build, a node exits or never becomes healthy — rather than by
// clstr or its environment (Docker unreachable, a bad option). Front ends
// use it to tell "the target failed" from "clstr could not judge".
type TargetError struct{ Err error }

func (e *TargetError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *TargetError) Unwrap() error { return e.Err }
