package main

import (
	"archive/tar"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

// greetChallenge is a community challenge of two stages for examples/kv.
var greetChallenge = map[string]string{
	"challenge.json": `{"key": "greet", "name": "Greet", "summary": "A node that answers.",
  "stages": [
    {"key": "health", "title": "Answer Health", "summary": "GET /health answers 200.", "script": "health.star"},
    {"key": "missing", "title": "Missing Keys", "summary": "A missing key answers 404.", "script": "missing.star"}]}`,
	"health.star": "suite()\n\ndef healthy():\n    get(\"n1\", \"/health\").status(200).run()\n\ntest(\"Health Answers 200\", healthy)\n",
	"missing.star": "suite()\n\ndef missing():\n    sleep(\"2s\")\n    get(\"n1\", \"/kv/none\").status(404).run()\n\n" +
		"test(\"A Missing Key Answers 404\", missing)\n",
}

// TestLearnCommunityChallenge starts a challenge that is not built in,
// from its directory and from an archive of it, and walks it with test,
// next and status, sandboxed: the sandbox's limits apply to its stages.
func TestLearnCommunityChallenge(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	kv := kvBinary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "greet-challenge")
	must(t, os.MkdirAll(src, 0o755))
	writeFiles(t, src, greetChallenge)

	wantStatus(t, clstrIn(t, dir, "init", "greet-challenge", "ws"), 0)
	ws := filepath.Join(dir, "ws")
	if got := readFile(t, filepath.Join(ws, progressFile)); got != "challenge: greet\nstage: health\nsource: "+src+"\n" {
		t.Errorf("clstr.yaml: %q", got)
	}
	assertContains(t, "README.md", readFile(t, filepath.Join(ws, "README.md")), "# Greet", "Answer Health", "Missing Keys")
	res := clstrIn(t, ws, "status")
	wantStatus(t, res, 0)
	assertContains(t, "status", res.stdout, "→ 1. health", "· 2. missing")

	res = clstrIn(t, ws, "next", "--binary", kv)
	wantStatus(t, res, 0)
	assertContains(t, "next", res.stdout, "✓ Health Answers 200", "Next, stage 2 of 2")

	// The stage's sleep is past the limit asked for: the sandbox stops it.
	res = clstrIn(t, ws, "test", "--binary", kv, "--max-sleep", "1s")
	wantStatus(t, res, 2)
	assertContains(t, "test", res.stdout+res.stderr, "--max-sleep")

	res = clstrIn(t, ws, "next", "--binary", kv)
	wantStatus(t, res, 0)
	assertContains(t, "next", res.stdout, "✓ A Missing Key Answers 404", "You have passed every stage of Greet")

	// The same challenge from an archive: unpacked into the new directory.
	archive := filepath.Join(dir, "greet.tar.gz")
	writeTarGz(t, archive, "greet-challenge/", greetChallenge)
	wantStatus(t, clstrIn(t, dir, "init", "greet.tar.gz", "ws2"), 0)
	ws2 := filepath.Join(dir, "ws2")
	assertContains(t, "clstr.yaml", readFile(t, filepath.Join(ws2, progressFile)), "source: challenge/greet-challenge\n")
	res = clstrIn(t, ws2, "test", "--binary", kv)
	wantStatus(t, res, 0)
	assertContains(t, "test", res.stdout, "✓ Health Answers 200")
}

// writeTarGz writes files, each under prefix, as a .tar.gz archive.
func writeTarGz(t *testing.T, path, prefix string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	must(t, tw.WriteHeader(&tar.Header{Name: prefix, Typeflag: tar.TypeDir, Mode: 0o755}))
	for name, data := range files {
		must(t, tw.WriteHeader(&tar.Header{Name: prefix + name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(data))
		must(t, err)
	}
	must(t, tw.Close())
	must(t, gz.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
