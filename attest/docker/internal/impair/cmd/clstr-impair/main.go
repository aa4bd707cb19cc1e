//go:build linux

// Command clstr-impair applies impairments to the outgoing traffic of a
// network namespace by hand, the way clstr-netd does for a node, to try
// the netem and NFQUEUE paths outside a cluster.
//
//	clstr-impair probe [-netns /run/netns/NAME]
//	clstr-impair apply [-netns …] [-delay 50ms] [-jitter 10ms] [-loss 10] [-duplicate 5] [-reorder 25] [-no-netem]
//	clstr-impair clear [-netns …]
//
// apply keeps the impairment, printing the shaper's counters every few
// seconds, until interrupted; then it clears everything. It needs
// CAP_NET_ADMIN in the namespace (and CAP_SYS_ADMIN to enter another).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/impair"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "clstr-impair:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: clstr-impair probe|apply|clear [flags]; see -h of each")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace file, e.g. /run/netns/NAME (default: this process's)")
	dl := fs.Duration("delay", 0, "delay added to every packet")
	jitter := fs.Duration("jitter", 0, "standard deviation of the delay (normal, correlated by -correlation)")
	corr := fs.Float64("correlation", cluster.Correlation, "correlation of jitter, loss and reorder from one packet to the next, 0–1 (0: uncorrelated loss alone is an nftables rule)")
	loss := fs.Float64("loss", 0, "percent of packets lost")
	dup := fs.Float64("duplicate", 0, "percent of packets sent twice")
	reorder := fs.Float64("reorder", 0, "percent of packets sent at once, past delayed ones (needs -delay)")
	noNetem := fs.Bool("no-netem", false, "use nftables and the NFQUEUE shaper even where netem exists")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var opts []impair.Option
	if *netns != "" {
		f, err := os.Open(*netns)
		if err != nil {
			return fmt.Errorf("open network namespace: %w", err)
		}
		defer f.Close()
		opts = append(opts, impair.WithNetNS(int(f.Fd())))
	}
	switch args[0] {
	case "probe":
		fmt.Println(impair.Probe(opts...))
		return nil
	case "clear":
		return impair.New(opts...).Clear()
	case "apply":
	default:
		return fmt.Errorf("unknown command %q: use probe, apply or clear", args[0])
	}
	var imps cluster.Impairments
	if *dl > 0 || *jitter > 0 {
		imps = append(imps, cluster.Impairment{Kind: cluster.KindDelay, Delay: *dl, Jitter: *jitter})
	}
	for _, k := range []struct {
		kind cluster.ImpairmentKind
		pct  float64
	}{{cluster.KindLoss, *loss}, {cluster.KindDuplicate, *dup}, {cluster.KindReorder, *reorder}} {
		if k.pct > 0 {
			imps = append(imps, cluster.Impairment{Kind: k.kind, Percent: k.pct})
		}
	}
	if len(imps) == 0 {
		return errors.New("apply: nothing to apply; give -delay, -loss, -duplicate or -reorder")
	}
	if *noNetem {
		opts = append(opts, impair.WithoutNetem())
	}
	opts = append(opts, impair.WithCorrelation(*corr))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := impair.New(opts...)
	path, err := c.Apply(ctx, imps)
	if err != nil {
		return err
	}
	fmt.Printf("applied %v via %s; interrupt to clear\n", imps, path)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := c.Clear(); err != nil {
				return err
			}
			fmt.Println("cleared")
			return nil
		case <-tick.C:
			if path != impair.PathNetem {
				fmt.Printf("%+v\n", c.Stats())
			}
		}
	}
}
