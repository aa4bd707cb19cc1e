package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
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

// Signal implements session.Interruption.
func (i *interruption) Signal() os.Signal { return i.sig }

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
