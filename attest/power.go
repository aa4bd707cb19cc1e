package attest

import (
	"fmt"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

// WithDurability serves every node's DATA_DIR so that a test can make a
// node lose power (Do.PowerLoss). Without it, DATA_DIR is a plain volume,
// and a power loss is refused. It costs time on every file operation, so
// only suites that lose power should ask for it.
func WithDurability() Option { return func(c *engine.Config) { c.Durable = true } }

// PowerLoss cuts the node's power: its process ends at once, as with
// Kill, and its DATA_DIR keeps only what a real machine would — every
// file's content as of its last fsync or fdatasync (or write through a
// descriptor opened with O_SYNC or O_DSYNC), and every name (create,
// rename, unlink) as of the last fsync of its directory. The node stays
// down until Start. The suite must ask for it with WithDurability.
func (d *Do) PowerLoss(name string) { d.must(d.Ops(callerPos(1)).PowerLoss(name)) }

// PowerLoss cuts a node's power; see Do.PowerLoss.
func (o *Ops) PowerLoss(name string) error {
	what := "power loss of " + name
	if err := o.known(name); err != nil {
		return o.fail(what, err)
	}
	r := o.d.r
	if !r.cfg.Durable {
		return o.fail(what, env(cluster.ErrNotDurable))
	}
	pl, ok := r.cl.(cluster.PowerLosser)
	if !ok {
		return o.fail(what, env(fmt.Errorf("this runtime (%T) cannot make a node lose power: run the suite on Docker", r.cl)))
	}
	r.transport.CloseIdleConnections()
	err := pl.PowerLoss(r.ctx, name)
	r.transport.CloseIdleConnections()
	if err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return nil
}
