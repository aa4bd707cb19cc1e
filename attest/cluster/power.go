package cluster

import (
	"context"
	"errors"
)

// PowerLosser is a Cluster whose nodes can lose power: a runtime that can
// serve DATA_DIR durably implements it for clusters made with
// Spec.Durable.
type PowerLosser interface {
	// PowerLoss ends the node's process at once, as Kill does, and leaves
	// in its DATA_DIR only what a real machine would keep: every file's
	// content as of its last fsync or fdatasync (or write through a
	// descriptor opened with O_SYNC or O_DSYNC), and every name as of the
	// last fsync of its directory. The node stays down until Start.
	PowerLoss(ctx context.Context, name string) error
}

// ErrNotDurable is the error of a power loss in a cluster whose suite did
// not ask for durability.
var ErrNotDurable = errors.New("a power loss needs a suite that asks for durability: suite(durability = True) in a script, attest.WithDurability() in Go")

// ErrNoDurability says that this host cannot serve a durable DATA_DIR,
// and why. clstr cannot judge a suite that asks for it there.
type ErrNoDurability struct{ Reason string }

func (e *ErrNoDurability) Error() string {
	return "this host cannot serve a durable DATA_DIR for power losses: " + e.Reason
}
