//go:build linux

// Package impair degrades the outgoing traffic of the network namespace it
// runs in: delay with normally distributed jitter, loss, duplication and
// reordering, as cluster.Impairments describe them, with jitter, loss and
// reorder correlated from one packet to the next (cluster.Correlation).
//
// # Paths
//
// Where the kernel has sch_netem, a netem qdisc does everything
// (PathNetem). Where it has not, an nftables rule hands every outgoing
// packet to a userspace shaper through an NFQUEUE, and the shaper's
// Scheduler decides its fate: dropped, held for its delay, sent at once
// past held ones (reorder), or sent twice (PathNfqueue). The queue rule
// has bypass: if the shaper dies, traffic flows unshaped rather than
// stopping. Uncorrelated loss alone (WithCorrelation(0)) needs no shaper:
// an nftables numgen rule draws each packet afresh, which is exactly that
// (PathNftables). A kernel with none of these gets one clear error from
// Apply. Lost packets vanish silently on every path, as on a real network.
//
// # Correlation, and how it differs from netem
//
// Correlated loss and reorder are a two-state chain: after a loss the
// next is lost with p + ρ(1−p), after none with p(1−ρ), so the long-run
// rate is the asked p and the lag-one correlation is ρ. Jitter is a
// first-order autoregressive normal: each draw keeps ρ of the last and
// stays N(delay, jitter²). netem's own correlation (next = ρ·last +
// (1−ρ)·fresh, its get_crandom) does not keep the rate: "loss 20% 25%"
// loses about 10%. So on netem, correlated loss is sent as netem's loss
// state model with the chain's transition probabilities (p13 = p(1−ρ),
// p31 = (1−p)(1−ρ)), which is the same chain; reorder, for which netem
// has no such model, is sent uncorrelated at the asked rate; and the
// jitter's correlation is sent as asked, though netem's table lookup
// takes the low bits of its draw, so its jitter is in effect uncorrelated. What still differs between the paths: reorder and jitter
// are correlated only on the shaper; netem's jitter comes from its
// 4096-entry normal table, the shaper's from an exact normal; netem counts
// time in 64 ns ticks and drops packets past 10 000 held, the shaper is
// exact to the nanosecond but releases late when its thread waits for a
// CPU (Stats.Late), and lets packets pass unshaped past DefaultMaxHeld.
// A duplicate's copy, on both paths, draws its own loss, reorder and
// delay; on the shaper it leaves through a raw socket, so it does not
// pass the nftables rules again.
//
// Everything it adds lives in the namespace: a netem root qdisc on each
// interface but lo, or the nftables table inet clstr_impair and a bound
// queue. Clear removes all of it, also when an earlier process added it.
//
// # In clstr-netd
//
// The daemon that holds a node's namespace creates one Controller for its
// whole life, New() (it already runs in the namespace; WithNetNS is for
// acting on another), and hands it to netd as its Impairer: "impair"
// requests call Apply, "repair" calls Clear, and shutdown calls Clear.
// The node's container may die and restart meanwhile: the rules, the
// qdiscs and the shaper belong to the namespace and the daemon, not to the
// node, so the impairment holds. The daemon needs CAP_NET_ADMIN, and
// CAP_NET_RAW for duplicates (in Docker's default set); with CAP_SYS_NICE
// the shaper's thread runs at a raised priority and keeps delays tighter
// on a busy machine. Probe tells clstr doctor which path a kernel offers.
//
// Because deleting any hooked nftables chain in a namespace makes the
// kernel drop every packet its queues hold, other rules in the same
// namespace (partitions) should be replaced by flushing their chains
// rather than deleting their tables while the shaper holds packets.
package impair

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Paths Apply reports.
const (
	// PathNetem: a netem qdisc on each interface.
	PathNetem = "netem"
	// PathNftables: uncorrelated loss only, by an nftables rule.
	PathNftables = "nftables"
	// PathNfqueue: an nftables rule queues every packet to the NFQUEUE
	// shaper, which does the rest, correlated loss included.
	PathNfqueue = "nftables+nfqueue"
)

// Defaults of the options.
const (
	// DefaultQueue is the NFQUEUE number the shaper binds. Queues are per
	// network namespace.
	DefaultQueue = 0x434c // "CL"
	// DefaultMark marks the shaper's duplicates so that the rules let
	// them pass ("CLST").
	DefaultMark = 0x434c5354
	// DefaultMaxHeld is how many packets the kernel holds for the shaper;
	// beyond it packets pass unshaped.
	DefaultMaxHeld = 20000
)

// Option configures a Controller or Probe.
type Option func(*options)

type options struct {
	netns   int
	queue   uint16
	mark    uint32
	maxHeld uint32
	noNetem bool
	corr    *float64
	seed    *[2]uint64
	ctx     context.Context
}

// WithNetNS acts on the network namespace open as fd instead of the
// calling thread's. The caller keeps fd open while the Controller is used.
func WithNetNS(fd int) Option { return func(o *options) { o.netns = fd } }

// WithQueue sets the NFQUEUE number of the shaper (default DefaultQueue);
// the next number is reserved too: lost packets go to it and vanish.
func WithQueue(n uint16) Option { return func(o *options) { o.queue = n } }

// WithMark sets the packet mark of duplicates (default DefaultMark). No
// other traffic of the namespace may carry it: it would not be impaired.
func WithMark(m uint32) Option { return func(o *options) { o.mark = m } }

// WithMaxHeld sets how many packets the kernel holds for the shaper.
func WithMaxHeld(n uint32) Option { return func(o *options) { o.maxHeld = n } }

// WithoutNetem uses nftables and the shaper even where netem is
// available, to compare the two or to avoid netem.
func WithoutNetem() Option { return func(o *options) { o.noNetem = true } }

// WithContext ties the Controller to ctx: when ctx is done it clears
// everything, as Clear does, and later Apply calls fail. Clear reports
// the error of that clearing, if any.
func WithContext(ctx context.Context) Option { return func(o *options) { o.ctx = ctx } }

// WithCorrelation sets the correlation of jitter, loss and reorder
// between one packet and the next (0–1) instead of cluster.Correlation.
// With 0, loss alone needs no shaper: an nftables rule does it.
func WithCorrelation(r float64) Option { return func(o *options) { o.corr = &r } }

// WithSeed makes the shaper's random draws reproducible.
func WithSeed(a, b uint64) Option { return func(o *options) { o.seed = &[2]uint64{a, b} } }

func newOptions(opts []Option) options {
	o := options{queue: DefaultQueue, mark: DefaultMark, maxHeld: DefaultMaxHeld}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Controller applies impairments to its namespace's outgoing traffic. Its
// methods are safe for concurrent use; Apply and Clear are serialised.
type Controller struct {
	opts options

	mu     sync.Mutex // guards the fields below
	path   string     // what is applied now; "" for nothing
	params Params
	shaper *shaper
	// What the nftables path did since it was applied over nothing, of
	// shapers that have stopped and rules that were replaced;
	// pastQueued is what their queue rules sent towards the shaper.
	past       Stats
	pastQueued uint64
	netemGone  error // why netem cannot be used, once known
	done       bool  // the context of WithContext is done
	doneErr    error // what clearing then failed with
}

// New returns a Controller that has applied nothing yet. It does not look
// at the kernel until Apply.
func New(opts ...Option) *Controller {
	c := &Controller{opts: newOptions(opts)}
	if ctx := c.opts.ctx; ctx != nil {
		context.AfterFunc(ctx, func() {
			err := c.Clear()
			c.mu.Lock()
			c.done, c.doneErr = true, err
			c.mu.Unlock()
		})
	}
	return c
}

// Apply replaces whatever impairment is in place with imps and returns
// the path that applies it: PathNetem, PathNftables or PathNfqueue (""
// when imps is empty, which is Clear). The shaper, where one is needed,
// runs until Clear or until the Controller's context (WithContext) is
// done; ctx bounds only the setting up. On error the previous impairment
// may be gone, never half of the new one left in place.
func (c *Controller) Apply(ctx context.Context, imps cluster.Impairments) (string, error) {
	return c.ApplyTowards(ctx, imps, nil)
}

// ApplyTowards is Apply for the packets sent to the IPv4 addresses to
// only; other packets pass unimpaired. An empty to is Apply. On the
// netem path, netem sits under a prio root qdisc whose u32 filters pick
// the destinations; on the nftables path, the rules match them.
func (c *Controller) ApplyTowards(ctx context.Context, imps cluster.Impairments, to []netip.Addr) (string, error) {
	for _, a := range to {
		if !a.Is4() {
			return "", fmt.Errorf("impair towards %v: only IPv4 destinations can be picked out", a)
		}
	}
	p, err := ParamsOf(imps)
	if err != nil {
		return "", fmt.Errorf("impair: %w", err)
	}
	if r := c.opts.corr; r != nil {
		if *r < 0 || *r > 1 {
			return "", fmt.Errorf("impair: correlation %g is not between 0 and 1", *r)
		}
		p.Correlation = *r
	}
	if len(imps) == 0 {
		return "", c.Clear()
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return "", fmt.Errorf("impair: the controller's context is done: %w", context.Cause(c.opts.ctx))
	}

	if !c.opts.noNetem && c.netemGone == nil {
		err := c.applyNetem(p, to)
		if err == nil {
			return PathNetem, nil
		}
		if !errors.Is(err, errNoNetem) {
			return "", err
		}
		c.netemGone = err
	}
	return c.applyNftables(p, to)
}

// errNoNetem marks errors that mean the kernel has no sch_netem.
var errNoNetem = errors.New("the kernel has no sch_netem")

// applyNetem puts netem on every interface but loopback; c.mu is held.
func (c *Controller) applyNetem(p Params, to []netip.Addr) error {
	r, err := dialRtnl(c.opts.netns)
	if err != nil {
		return fmt.Errorf("impair: %w", err)
	}
	defer r.Close()
	links, err := r.links()
	if err != nil {
		return fmt.Errorf("impair: %w", err)
	}
	var done []link
	for _, l := range links {
		if l.loopback {
			continue
		}
		set := r.setNetem
		if len(to) > 0 {
			set = func(ifindex int32, p Params) error { return r.setNetemTowards(ifindex, p, to) }
		}
		if err := set(l.index, p); err != nil {
			for _, d := range done {
				r.delNetem(d.index)
			}
			if netemMissing(err) && len(done) == 0 {
				return fmt.Errorf("%w (adding netem to %s: %v)", errNoNetem, l.name, err)
			}
			return fmt.Errorf("impair: add netem qdisc (%v) to %s: %w", p, l.name, err)
		}
		done = append(done, l)
	}
	if len(done) == 0 {
		return errors.New("impair: the namespace has no interface but loopback to impair")
	}
	// Coming from the other path, its rules and shaper go only now, so
	// that the impairment never lapses.
	if c.path == PathNftables || c.path == PathNfqueue {
		if err := c.clearNftables(); err != nil {
			return err
		}
	}
	c.past, c.pastQueued = Stats{}, 0
	c.path, c.params = PathNetem, p
	return nil
}

// applyNftables installs the rules and, if p needs it, the shaper; c.mu
// is held.
//
// nftables' numgen draws each packet afresh, which is exactly
// uncorrelated loss, and costs no trip to user space: it does loss when
// loss is all there is and it is uncorrelated. Correlated loss needs the
// memory of the last draw, so the shaper does it; and where the shaper
// runs anyway it does all the loss, so that a duplicate's copy can be lost
// on its own, as netem's can.
func (c *Controller) applyNftables(p Params, to []netip.Addr) (string, error) {
	if c.path != PathNftables && c.path != PathNfqueue {
		c.past, c.pastQueued = Stats{}, 0
	}
	shape := shaperNeeded(p)
	started := false
	if shape {
		if c.shaper != nil && c.shaper.stats().Err != nil {
			// It stopped on its own: start afresh.
			c.stopShaper()
		}
		if c.shaper == nil {
			cfg := shaperConfig{queue: c.opts.queue, mark: c.opts.mark, netns: c.opts.netns, maxLen: c.opts.maxHeld, seed: c.opts.seed}
			s, err := startShaper(cfg, p)
			if err != nil {
				return "", c.neitherPath(fmt.Errorf("start the NFQUEUE shaper: %w", err))
			}
			c.shaper, started = s, true
		} else {
			c.shaper.update(p)
		}
	}
	r := rules{To: to, Shape: shape, Queue: c.opts.queue, Mark: c.opts.mark}
	if !shape {
		r.Loss = p.Loss
	}
	if err := c.foldRules(); err != nil {
		if started {
			c.shaper.stop()
			c.shaper = nil
		}
		return "", fmt.Errorf("impair: %w", err)
	}
	if err := r.install(c.opts.netns); err != nil {
		if started {
			c.shaper.stop()
			c.shaper = nil
		}
		return "", c.neitherPath(err)
	}
	if !shape && c.shaper != nil {
		// The rules no longer queue: release what the shaper holds.
		if err := c.stopShaper(); err != nil {
			return "", fmt.Errorf("impair: stop the shaper: %w", err)
		}
	}
	c.path, c.params = PathNftables, p
	if shape {
		c.path = PathNfqueue
	}
	c.past.Path = c.path
	return c.path, nil
}

// foldRules adds the counters of the installed rules to the past figures
// before the rules are replaced or removed; c.mu is held.
func (c *Controller) foldRules() error {
	if c.path != PathNftables && c.path != PathNfqueue {
		return nil
	}
	n, err := readCounts(c.opts.netns)
	if err != nil {
		return err
	}
	c.past.Dropped += n.lost
	c.pastQueued += n.queued
	return nil
}

// stopShaper stops the shaper, letting what it holds go, and adds its
// figures to the past ones; c.mu is held.
func (c *Controller) stopShaper() error {
	err := c.shaper.stop()
	st := c.shaper.stats()
	st.Err, st.Held, st.Path = nil, 0, ""
	c.past = c.past.add(st)
	c.shaper = nil
	return err
}

// shaperNeeded reports whether the nftables path needs the shaper for p:
// for anything but loss, and for correlated loss.
func shaperNeeded(p Params) bool {
	return p.Shapes() || p.Loss > 0 && p.Correlation > 0
}

// neitherPath explains that no way to impair is left.
func (c *Controller) neitherPath(err error) error {
	netem := "netem was not tried (WithoutNetem)"
	if c.netemGone != nil {
		netem = c.netemGone.Error()
	}
	return fmt.Errorf("impair: cannot impair traffic in this network namespace: %s, and nftables with NFQUEUE failed: %w; use a kernel with sch_netem (CONFIG_NET_SCH_NETEM) or with nf_tables, its xt compat and NFQUEUE (CONFIG_NFT_COMPAT, CONFIG_NETFILTER_XT_TARGET_NFQUEUE), and run with CAP_NET_ADMIN", netem, err)
}

// Clear removes every impairment: the nftables table, the shaper (its
// held packets go at once) and netem qdiscs on the namespace's
// interfaces. It also removes those that an earlier process left, and it
// is not an error if there is nothing to remove.
func (c *Controller) Clear() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.path == "" {
		// Nothing to clear: the figures of the last Clear go, so that
		// they are reported once.
		c.past, c.pastQueued = Stats{}, 0
	}
	err := errors.Join(c.doneErr, c.clearNftables())
	c.doneErr = nil
	if c.netemGone == nil || c.path == PathNetem {
		err = errors.Join(err, c.clearNetem())
	}
	if err != nil {
		return fmt.Errorf("impair: clear: %w", err)
	}
	c.path, c.params = "", Params{}
	return nil
}

// clearNftables removes the rules and the shaper; c.mu is held. Their
// figures stay in c.past for Stats.
func (c *Controller) clearNftables() error {
	err := c.foldRules()
	if c.shaper != nil {
		// Stop queueing but keep the chain, release what the shaper
		// holds, and only then remove the chain: its removal would make
		// the kernel drop the held packets.
		err = errors.Join(err, rules{Queue: c.opts.queue, Mark: c.opts.mark}.install(c.opts.netns))
		err = errors.Join(err, c.stopShaper())
	}
	return errors.Join(err, removeRules(c.opts.netns))
}

// clearNetem removes netem root qdiscs; c.mu is held.
func (c *Controller) clearNetem() error {
	r, err := dialRtnl(c.opts.netns)
	if err != nil {
		return err
	}
	defer r.Close()
	links, err := r.links()
	if err != nil {
		return err
	}
	for _, l := range links {
		if e := r.delNetem(l.index); e != nil {
			err = errors.Join(err, fmt.Errorf("remove netem from %s: %w", l.name, e))
		}
	}
	return err
}

// Path is what Apply last put in place: PathNetem, PathNftables,
// PathNfqueue, or "" when nothing is applied.
func (c *Controller) Path() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.path
}

// Stats reports what the nftables path did to the traffic since it was
// applied over nothing, across Apply calls that changed the impairments;
// after Clear it still reports what the cleared impairments did, until
// the next Apply or Clear. It is zero for netem, which keeps its own. Stats.Err is
// set if the shaper stopped on its own, or if the rules' counters could
// not be read.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, queued := c.past, c.pastQueued
	if c.path == PathNftables || c.path == PathNfqueue {
		n, err := readCounts(c.opts.netns)
		if err != nil {
			st.Err = errors.Join(st.Err, err)
		}
		st.Dropped += n.lost
		queued += n.queued
	}
	if c.shaper != nil {
		st = st.add(c.shaper.stats())
	}
	if queued > st.Queued {
		st.Bypassed += queued - st.Queued
	}
	return st
}
