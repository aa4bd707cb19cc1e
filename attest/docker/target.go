package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// TargetImage returns the tag of the image the runtime's clusters run,
// building it first as Create does: a directory's Dockerfile is built
// again (the builder's cache decides what is redone), a binary is wrapped
// unless an image of the same content exists. A caller that creates
// clusters of an unchanged target again, such as clstr run --watch after
// an edit of the script alone, can run that tag (Options.Image) and skip
// the build. Build failures are *cluster.TargetError values.
func (r *Runtime) TargetImage(ctx context.Context) (string, error) {
	return r.targetImage(ctx)
}

// CheckTarget tells, without asking Docker anything, whether o names a
// program clstr can run: for Binary a static Linux executable, for Dir a
// directory with a Dockerfile. An image is Docker's to find. The error is
// a *cluster.TargetError that says what to do.
func CheckTarget(o Options) error {
	switch {
	case o.Image != "":
		return nil
	case o.Binary != "":
		bin, err := os.ReadFile(o.Binary)
		if err != nil {
			return &cluster.TargetError{Err: fmt.Errorf("read binary: %w", err)}
		}
		if err := checkStatic(o.Binary, bin); err != nil {
			return &cluster.TargetError{Err: err}
		}
	case o.Dir != "":
		if _, err := os.Stat(filepath.Join(o.Dir, "Dockerfile")); err != nil {
			abs, _ := filepath.Abs(o.Dir)
			return &cluster.TargetError{Err: fmt.Errorf("no Dockerfile in %s: add one, or run a static binary with --binary", abs)}
		}
	}
	return nil
}
