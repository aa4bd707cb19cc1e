package docker

import "context"

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
