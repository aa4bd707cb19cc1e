package starlark

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name string
	kind byte // tar.TypeReg, TypeDir, TypeSymlink, …
	data string
	size int64 // of zeros, when data is empty
}

func tarGz(t *testing.T, path string, entries []entry) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		size := int64(len(e.data))
		if e.data == "" {
			size = e.size
		}
		h := &tar.Header{Name: e.name, Typeflag: e.kind, Mode: 0o644, Linkname: "/etc/passwd"}
		if e.kind == tar.TypeReg {
			h.Size = size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.kind == tar.TypeReg {
			if e.data != "" {
				tw.Write([]byte(e.data))
			} else {
				tw.Write(make([]byte, size))
			}
		}
	}
	tw.Close()
	gz.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUnpack(t *testing.T) {
	stage := "suite(cluster = 1)\nload(\"lib/help.star\", \"x\")\ntest(\"T\", lambda: x)\n"
	tests := []struct {
		name    string
		entries []entry
		want    string // "" for success
	}{
		{"a challenge", []entry{{name: "c/", kind: tar.TypeDir}, {name: "c/stage.star", kind: tar.TypeReg, data: stage}, {name: "c/lib/help.star", kind: tar.TypeReg, data: "x = 1\n"}}, ""},
		{"dot dot", []entry{{name: "../evil.star", kind: tar.TypeReg, data: "x"}}, "leaves the archive's directory"},
		{"dot dot inside", []entry{{name: "c/../../evil.star", kind: tar.TypeReg, data: "x"}}, "leaves the archive's directory"},
		{"absolute", []entry{{name: "/tmp/evil.star", kind: tar.TypeReg, data: "x"}}, "leaves the archive's directory"},
		{"symlink", []entry{{name: "c/link", kind: tar.TypeSymlink}}, "links, devices and pipes are refused"},
		{"hard link", []entry{{name: "c/link", kind: tar.TypeLink}}, "links, devices and pipes are refused"},
		{"fifo", []entry{{name: "c/fifo", kind: tar.TypeFifo}}, "links, devices and pipes are refused"},
		{"twice", []entry{{name: "a", kind: tar.TypeReg, data: "1"}, {name: "a", kind: tar.TypeReg, data: "2"}}, "exists"},
		{"too big", []entry{{name: "zeros", kind: tar.TypeReg, size: MaxArchiveBytes + 1}}, "MiB unpacked"},
	}
	many := make([]entry, MaxArchiveFiles+1)
	for i := range many {
		many[i] = entry{name: "d/", kind: tar.TypeDir}
	}
	tests = append(tests, struct {
		name    string
		entries []entry
		want    string
	}{"too many", many, "entries"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outer := t.TempDir()
			archive := filepath.Join(outer, "c.tar.gz")
			tarGz(t, archive, tc.entries)
			dir := filepath.Join(outer, "unpacked", "here")
			os.MkdirAll(dir, 0o755)
			err := Unpack(archive, dir)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				lim := DefaultLimits()
				if _, err := Load(filepath.Join(dir, "c", "stage.star"), Options{Sandbox: &lim}); err != nil {
					t.Errorf("the unpacked stage does not load: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unpack: %v; want an error containing %q", err, tc.want)
			}
			// Nothing lands outside dir.
			entries, _ := os.ReadDir(outer)
			if len(entries) != 2 {
				t.Errorf("the archive's directory holds %d entries; want the archive and unpacked/", len(entries))
			}
			if up, _ := os.ReadDir(filepath.Join(outer, "unpacked")); len(up) != 1 {
				t.Errorf("unpacked/ holds %d entries; want here/ only", len(up))
			}
		})
	}
}

func TestUnpackZip(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{{"c/stage.star", ""}, {"../evil.star", "leaves"}, {"/evil.star", "leaves"}, {"c\\..\\..\\evil.star", "leaves"}} {
		outer := t.TempDir()
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create(tc.name)
		w.Write([]byte("test(\"T\", lambda: None)\n"))
		zw.Close()
		archive := filepath.Join(outer, "c.zip")
		os.WriteFile(archive, buf.Bytes(), 0o644)
		dir := filepath.Join(outer, "here")
		os.Mkdir(dir, 0o755)
		err := Unpack(archive, dir)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Unpack: %v; want %q", tc.name, err, tc.want)
		}
		if entries, _ := os.ReadDir(outer); len(entries) != 2 {
			t.Errorf("%s: something was written beside the archive", tc.name)
		}
	}
	if !IsArchive("c.TAR.GZ") || !IsArchive("c.zip") || IsArchive("c.star") {
		t.Error("IsArchive")
	}
}

// TestUnpackHeaderBomb checks that headers count: an archive of global
// PAX headers, each of nearly 1 MiB of records and none naming a file,
// is refused after a bounded number of them, not read to its end: 90 of
// them unpack to more than maxTarStream.
func TestUnpackHeaderBomb(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bomb.tar.gz")
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	big := strings.Repeat("x", 1000<<10)
	for range 90 {
		h := &tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "g", PAXRecords: map[string]string{"comment": big}}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	gz.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Unpack(path, t.TempDir())
	if err == nil || !(strings.Contains(err.Error(), "entries") || strings.Contains(err.Error(), "headers included")) {
		t.Fatalf("Unpack: %v; want the headers refused", err)
	}
	t.Logf("refused: %v", err)
}
