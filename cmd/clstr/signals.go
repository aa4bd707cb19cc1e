package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clstr-dev/clstr/attest/engine"
)

// oneAct is how long after a first SIGINT or SIGTERM further ones count as
// the same act. One Ctrl-C can reach clstr more than once within
// microseconds: GNU timeout, make, npm and CI runners signal their child
// and then its whole process group, and a sandboxed run's parent passes
// its own on to the child that already has one.
const oneAct = time.Second

// interruption is the cause a signal gives the run's context.
type interruption struct{ sig os.Signal }

func (i *interruption) Error() string { return signalName(i.sig) }

// signalName names a signal as a shell's kill does: "SIGINT", not
// "interrupt".
func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// cancelOnSignal calls cancel at the first SIGINT or SIGTERM and quits at
// once at a second one that comes oneAct or more after it; the returned
// function stops listening.
func cancelOnSignal(cancel context.CancelCauseFunc, out *output, stderr io.Writer) func() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		var first time.Time
		select {
		case sig := <-sigs:
			first = time.Now()
			out.interrupted(signalName(sig))
			cancel(&interruption{sig})
		case <-done:
			return
		}
		for {
			select {
			case sig := <-sigs:
				if time.Since(first) < oneAct {
					continue // the same act, delivered again
				}
				// A deliberate second signal is for someone who will not
				// wait for the cleanup; the next run, or clstr clean,
				// removes what is left.
				fmt.Fprintf(stderr, "clstr: %s again: quitting without cleaning up; run 'clstr clean' to remove what is left\n", signalName(sig))
				os.Exit(exitError)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		<-exited
	}
}

// interruptedBy returns the signal that stopped the run of res, or nil
// when none did: a run that a signal reached only as it tore the cluster
// down, after its verdict, keeps that verdict.
func interruptedBy(ctx context.Context, res *engine.Result) os.Signal {
	var in *interruption
	if !errors.As(context.Cause(ctx), &in) || res.Err == nil {
		return nil
	}
	if errors.As(res.Err, new(*interruption)) || errors.Is(res.Err, context.Canceled) {
		return in.sig
	}
	return nil
}
