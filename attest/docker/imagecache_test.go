package docker

import (
	"os"
	"path/filepath"
	"testing"
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
