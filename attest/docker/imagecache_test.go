package docker

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

func TestImageCacheForgetsChangedFiles(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "node")
	if err := os.WriteFile(bin, []byte("one"), 0o755); err != nil {
		t.Fatal(err)
	}
	var c imageCache
	stamp := fileStamp([]string{bin})
	if stamp == "" {
		t.Fatal("no stamp for an existing file")
	}
	c.store("target", stamp, "clstr-target:1")
	if tag, ok := c.lookup("target", fileStamp([]string{bin})); !ok || tag != "clstr-target:1" {
		t.Fatalf("unchanged file: lookup = %q, %v; want the stored tag", tag, ok)
	}

	// A rebuild writes a new file in its place.
	tmp := bin + ".new"
	if err := os.WriteFile(tmp, []byte("two"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	if tag, ok := c.lookup("target", fileStamp([]string{bin})); ok {
		t.Fatalf("replaced file: lookup found %q; want a miss", tag)
	}
	if _, ok := c.lookup("other", stamp); ok {
		t.Fatal("lookup of another key found an entry")
	}
	if s := fileStamp([]string{filepath.Join(t.TempDir(), "missing")}); s != "" {
		t.Fatalf("stamp of a missing file = %q; want none", s)
	}
	c.store("missing", "", "clstr-target:2")
	if _, ok := c.lookup("missing", ""); ok {
		t.Fatal("an empty stamp was cached")
	}
}

// TestRebuildsRemoveTheImagesTheyReplace rebuilds a binary target and a
// Dockerfile target after a change, as clstr run --watch does, and checks
// that the image of the last build goes — unless a container still uses
// it — so that rebuilds do not pile up images.
func TestRebuildsRemoveTheImagesTheyReplace(t *testing.T) {
	dockerOrSkip(t)
	ctx := context.Background()
	cli, err := Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	data, err := os.ReadFile(testnodeBin)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "node")
	write := func(path string, b []byte) {
		t.Helper()
		// A new file in the old one's place, as a linker or an editor writes it.
		if err := os.WriteFile(path+".new", b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	// Content of this test's own, so that no other test's image goes.
	data = append(data, "rebuilds"...)
	write(bin, data)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY node /node\nENTRYPOINT [\"/node\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	imageExists := func(ref string) bool {
		_, err := cli.ImageInspect(ctx, ref)
		return err == nil
	}
	newRuntime := func(opts Options) *Runtime {
		rt, err := New(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	removeImage := func(ref string) {
		t.Cleanup(func() {
			cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
		})
	}

	t.Run("binary", func(t *testing.T) {
		rt := newRuntime(Options{Binary: bin})
		first, err := rt.targetImage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		removeImage(first)
		write(bin, append(data, "second"...))
		second, err := rt.targetImage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		removeImage(second)
		// A container of the second image keeps it through the third build.
		ct, err := rt.cli.ContainerCreate(ctx, &container.Config{Image: second, Labels: rt.labels.forRun("imagetest", "node", "")}, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.cli.ContainerRemove(context.Background(), ct.ID, container.RemoveOptions{Force: true}) })
		write(bin, append(data, "third"...))
		third, err := rt.targetImage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		removeImage(third)
		if err := rt.Close(); err != nil {
			t.Fatal(err)
		}
		if imageExists(first) {
			t.Errorf("the first build's image %s is still there after the second build", first)
		}
		if !imageExists(second) {
			t.Errorf("the second build's image %s went, though a container uses it", second)
		}
		if !imageExists(third) {
			t.Errorf("the newest image %s went", third)
		}
	})

	t.Run("dockerfile", func(t *testing.T) {
		rt := newRuntime(Options{Dir: dir})
		tag, err := rt.targetImage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		removeImage(tag)
		first, err := rt.cli.ImageInspect(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		write(bin, append(data, "changed"...))
		if _, err := rt.targetImage(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rt.Close(); err != nil {
			t.Fatal(err)
		}
		if imageExists(first.ID) {
			t.Errorf("the first build's image %s is still there, untagged, after the rebuild", first.ID)
		}
		if !imageExists(tag) {
			t.Errorf("the rebuilt image %s went", tag)
		}
	})
}
