package attest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/internal/render"
)

// logTailLines is how many of a node's last log lines a failure shows.
const logTailLines = 20

// waitHealthy polls GET /health on the nodes in parallel until each answers
// 200 within the node start timeout. A node that does not is the target's
// fault: the error is a *cluster.TargetError with the node's last log
// lines.
func (r *run) waitHealthy(ctx context.Context, names []string) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = r.waitNode(ctx, name) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return env(err)
	}
	if err := errors.Join(errs...); err != nil {
		return &cluster.TargetError{Err: err}
	}
	return nil
}

// healthPoll caps the pause between health checks: a node that is up
// should not wait a whole poll interval to be noticed.
const healthPoll = 20 * time.Millisecond

func (r *run) waitNode(ctx context.Context, name string) error {
	timeout := r.cfg.NodeStartTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		resp := r.send(ctx, nil, name, http.MethodGet, "/health", nil, nil)
		switch {
		case resp.Err == nil && resp.Status == http.StatusOK:
			return nil
		case resp.Err == nil:
			last = render.Status(resp.Status)
		case ctx.Err() == nil || last == "":
			// An attempt cut short by the deadline says less than the
			// one before it.
			last = resp.Err.Error()
		}
		if err := sleep(ctx, min(r.cfg.PollInterval, healthPoll)); err != nil {
			if r.ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("node %s did not answer GET /health with 200 within %v (last attempt: %s)%s",
				name, timeout, last, r.logTail(name))
		}
	}
}

// logTail renders the node's last log lines for an error message.
func (r *run) logTail(name string) string {
	lines := r.cl.LogTail(name, logTailLines)
	if len(lines) == 0 {
		return " — it wrote no log lines"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nlast log lines of %s:", name)
	for _, l := range lines {
		b.WriteString("\n    ")
		b.WriteString(l)
	}
	return b.String()
}

// sleep waits for d or until ctx is done, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
