package challenges

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/registry"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
	"github.com/clstr-dev/clstr/stdlib"
)

// kvStoreStages are the stages of the built-in kv-store challenge, in
// order, with their scripts in the file tree; their keys are clstr.io's.
var kvStoreStages = []struct{ key, script string }{
	{"http-api", "kv-store/http-api.star"},
	{"persistence", "kv-store/persistence.star"},
	{"crash-recovery", "kv-store/crash-recovery.star"},
	{"leader-election", "raft/election.star"},
	{"log-replication", "raft/replication.star"},
	{"log-compaction", "raft/compaction.star"},
	{"membership-changes", "raft/membership.star"},
	{"joint-consensus", "raft/joint.star"},
}

func TestBuiltinIsRegistered(t *testing.T) {
	c, ok := registry.Lookup("kv-store")
	if !ok {
		t.Fatal("kv-store is not in registry.Default")
	}
	if c.Key != "kv-store" || c.Name == "" || c.Summary == "" {
		t.Errorf("challenge key %q, name %q, summary %q; want all set", c.Key, c.Name, c.Summary)
	}
	var keys, want []string
	for _, s := range c.Stages {
		keys = append(keys, s.Key)
	}
	for _, s := range kvStoreStages {
		want = append(want, s.key)
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("stages %v; want %v", keys, want)
	}
	for _, s := range c.Stages {
		t.Run(s.Key, func(t *testing.T) {
			if s.Title == "" || s.Summary == "" {
				t.Errorf("title %q, summary %q; want both", s.Title, s.Summary)
			}
			// The description is the learner's README section: it opens
			// with the title and says what is tested.
			if !strings.HasPrefix(s.Description, "# "+s.Title+"\n") {
				t.Errorf("description does not start with %q:\n%.200s", "# "+s.Title, s.Description)
			}
			if !strings.Contains(s.Description, "## What is tested") {
				t.Errorf("description has no \"## What is tested\" section")
			}
			suite, err := s.Suite()
			if err != nil {
				t.Fatalf("Suite: %v", err)
			}
			if len(suite.TestNames()) == 0 {
				t.Error("the stage has no tests")
			}
		})
	}
}

// TestTreeMatchesEmbedded loads every stage from the file tree, as
// `clstr run challenges/raft/election.star` does, and checks that it is
// the stage the registry serves from the embedded files, and that every
// .star file of the tree is a stage or a module a stage loads.
func TestTreeMatchesEmbedded(t *testing.T) {
	c, _ := registry.Lookup("kv-store")
	used := map[string]bool{}
	for _, st := range kvStoreStages {
		s, err := starlark.Load(st.script, starlark.Options{Stdlib: stdlib.FS})
		if err != nil {
			t.Fatalf("load %s from the tree: %v", st.script, err)
		}
		for _, f := range s.Files() {
			rel, err := filepath.Rel(mustAbs(t, "."), f)
			if err != nil {
				t.Fatal(err)
			}
			used[filepath.ToSlash(rel)] = true
		}
		stage, _ := c.Stage(st.key)
		suite, err := stage.Suite()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.TestNames(), suite.TestNames()) {
			t.Errorf("%s: tests from the tree %q, embedded %q", st.key, s.TestNames(), suite.TestNames())
		}
	}
	onDisk := map[string]bool{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (p == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		switch filepath.Ext(p) {
		case ".star", ".md", ".json":
			onDisk[filepath.ToSlash(p)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range onDisk {
		if strings.HasSuffix(p, ".star") && !used[p] {
			t.Errorf("%s is neither a stage nor loaded by one", p)
		}
		if p == "README.md" {
			continue
		}
		want, _ := os.ReadFile(p)
		got, err := fs.ReadFile(FS, p)
		if err != nil {
			t.Errorf("%s is in the tree but not embedded: widen the go:embed patterns", p)
		} else if string(got) != string(want) {
			t.Errorf("%s: embedded copy differs from the tree", p)
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestStageConstants checks that every stage declares its timing and
// counts as named constants at its top, before suite(), rather than as
// literals scattered through its tests.
func TestStageConstants(t *testing.T) {
	for _, st := range kvStoreStages {
		src, err := fs.ReadFile(FS, st.script)
		if err != nil {
			t.Fatal(err)
		}
		text := string(src)
		head, body, ok := strings.Cut(text, "\nsuite(")
		if !ok {
			t.Errorf("%s: no suite() call at the top level", st.script)
			continue
		}
		if !strings.Contains(head, " = ") {
			t.Errorf("%s: no constants before suite()", st.script)
		}
		// A duration literal in a test body ("3s", "500ms") should be a
		// constant; hints may mention durations only through them.
		for _, line := range strings.Split(body, "\n") {
			for _, unit := range []string{`s")`, `ms")`, `s",`, `ms",`} {
				if i := strings.Index(line, unit); i > 0 && isDigit(line[i-1]) {
					t.Errorf("%s: a duration literal in a test: %s", st.script, strings.TrimSpace(line))
				}
			}
		}
	}
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func TestManifestErrors(t *testing.T) {
	stage := "suite()\ntest(\"t\", lambda: None)\n"
	tests := []struct {
		name     string
		manifest string
		files    map[string]string
		want     string
	}{
		{"not JSON", `{`, nil, "unexpected EOF"},
		{"unknown field", `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "s.star", "scirpt": "x"}]}`, nil, `unknown field "scirpt"`},
		{"two values", `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "s.star"}]} {}`, nil, "more than one JSON value"},
		{"bad key", `{"key": "Kv Store", "name": "C", "stages": [{"key": "s", "title": "S", "script": "s.star"}]}`, nil, `key "Kv Store"`},
		{"no name", `{"key": "c", "stages": [{"key": "s", "title": "S", "script": "s.star"}]}`, nil, "name is empty"},
		{"no stages", `{"key": "c", "name": "C", "stages": []}`, nil, "no stages"},
		{"bad stage key", `{"key": "c", "name": "C", "stages": [{"key": "HTTP", "title": "S", "script": "s.star"}]}`, nil, `stage 1 (HTTP): key "HTTP"`},
		{"duplicate stage", `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "s.star"}, {"key": "s", "title": "T", "script": "s.star"}]}`, nil, `stage 2 (s): key "s" is used by an earlier stage`},
		{"no title", `{"key": "c", "name": "C", "stages": [{"key": "s", "script": "s.star"}]}`, nil, "title is empty"},
		{"not a script", `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "s.py"}]}`, nil, `script "s.py"`},
		{"bad description", `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "s.star", "description": "s.txt"}]}`, nil, `description "s.txt"`},
		{"missing script", `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "gone.star"}]}`, nil, "stage s: script c/gone.star: file does not exist"},
		{"script outside", `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "../../s.star"}]}`, nil, "leaves the challenge's directory tree"},
		{"absolute script", `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "/s.star"}]}`, nil, "relative to the manifest"},
		{"missing description", `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "s.star", "description": "gone.md"}]}`, map[string]string{"c/s.star": stage}, "description c/gone.md: file does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"c/challenge.json": {Data: []byte(tc.manifest)}}
			for name, data := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			_, err := Load(fsys, "c")
			if err == nil {
				t.Fatalf("Load succeeded; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// writeTree writes files (slash paths) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// community is a challenge as a third party would write it: a manifest, a
// stage that loads a helper module by relative path and the stdlib, a
// stage without a description file.
var community = map[string]string{
	"challenge.json": `{
  "key": "echo",
  "name": "Echo",
  "summary": "Answer what you are told.",
  "stages": [
    {"key": "store", "title": "Store Things", "summary": "PUT and GET.", "script": "stages/store.star"},
    {"key": "leader", "title": "Have a Leader", "summary": "One leader.", "script": "stages/leader.star", "description": "docs/leader.md"}
  ]
}`,
	"stages/store.star": `load("lib/helpers.star", "roundtrip")
suite(cluster = 1)
test("round trip", lambda: roundtrip("k", "v"))
`,
	"stages/lib/helpers.star": `load("@stdlib//kv.star", "kv_put", "kv_expect")
def roundtrip(k, v):
    kv_put(k, v)
    kv_expect(k, v)
`,
	"stages/store.md": "# Store Things\n",
	"stages/leader.star": `load("@stdlib//cluster.star", "wait_for_leader")
suite(cluster = 3)
test("one leader", lambda: wait_for_leader())
`,
	"docs/leader.md": "# Have a Leader\n",
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, community)
	c, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Key != "echo" || c.Name != "Echo" || len(c.Stages) != 2 {
		t.Fatalf("challenge %+v", c)
	}
	descs := []string{"# Store Things\n", "# Have a Leader\n"}
	for i, s := range c.Stages {
		if s.Description != descs[i] {
			t.Errorf("stage %s: description %q, want %q", s.Key, s.Description, descs[i])
		}
		suite, err := s.Suite()
		if err != nil {
			t.Fatalf("stage %s: %v", s.Key, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		res := suite.Run(ctx, engine.RunOptions{Runtime: starlarktest.New().Runtime})
		cancel()
		if !res.Passed() {
			t.Errorf("stage %s on the fake target: %v", s.Key, res.FirstError())
		}
	}

	// A registry takes it as it takes any challenge.
	var r registry.Registry
	r.Register(c.Key, c)
	if got, ok := r.Lookup("echo"); !ok || got != c {
		t.Error("the loaded challenge is not in the registry")
	}
}

func TestLoadDirErrors(t *testing.T) {
	manifest := `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "s.star"}]}`
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no manifest", map[string]string{"s.star": "suite()"}, "challenge.json: file does not exist"},
		{"syntax error", map[string]string{"challenge.json": manifest, "s.star": "suite(\ntest(\"t\" lambda: None)\n"}, "s.star:2:"},
		{"load outside", map[string]string{"challenge.json": manifest, "s.star": "load(\"../x.star\", \"x\")\n"}, "outside the script's directory"},
		{"script outside", map[string]string{"challenge.json": `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "../s.star"}]}`}, "leaves the challenge's directory tree"},
		{"no tests", map[string]string{"challenge.json": manifest, "s.star": "suite()\n"}, "registers no test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			_, err := LoadDir(dir)
			if err == nil {
				t.Fatalf("LoadDir succeeded; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := LoadDir(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("LoadDir of a missing directory: %v", err)
	}
}

// TestLoadFromFS loads a challenge from an fs.FS that is not the disk,
// with a stage outside the manifest's directory, as kv-store takes its Raft
// stages from ../raft.
func TestLoadFromFS(t *testing.T) {
	fsys := fstest.MapFS{}
	for name, data := range community {
		fsys["tree/"+name] = &fstest.MapFile{Data: []byte(data)}
	}
	fsys["other/challenge.json"] = &fstest.MapFile{Data: []byte(`{"key": "other", "name": "Other",
		"stages": [{"key": "store", "title": "Store", "script": "../tree/stages/store.star"}]}`)}
	c, err := Load(fsys, "other")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Stages[0]
	if s.Description != "# Store Things\n" {
		t.Errorf("description %q: want the one beside the script", s.Description)
	}
	suite, err := s.Suite()
	if err != nil {
		t.Fatal(err)
	}
	if got := suite.TestNames(); !slices.Equal(got, []string{"round trip"}) {
		t.Errorf("tests %q", got)
	}
}

// TestEmbeddedNamesInFailures checks that a stage read from a tree that is
// not on disk names its file as in that tree where a check fails, not by
// the temporary copy it was loaded from.
func TestEmbeddedNamesInFailures(t *testing.T) {
	fsys := fstest.MapFS{
		"x/challenge.json": &fstest.MapFile{Data: []byte(`{"key": "x", "name": "X",
			"stages": [{"key": "fails", "title": "Fails", "script": "fails.star"}]}`)},
		"x/fails.star": &fstest.MapFile{Data: []byte("suite()\n\ntest(\"t\", lambda: get(\"n1\", \"/status/500\").status(200).run())\n")},
	}
	c, err := Load(fsys, "x")
	if err != nil {
		t.Fatal(err)
	}
	suite, err := c.Stages[0].Suite()
	if err != nil {
		t.Fatal(err)
	}
	res := suite.Run(context.Background(), engine.RunOptions{Runtime: starlarktest.New().Runtime})
	var f *engine.Failure
	if !errors.As(res.FirstError(), &f) {
		t.Fatalf("want a failed check, got %v", res.FirstError())
	}
	var out strings.Builder
	f.Format(&out, false)
	if !strings.Contains(out.String(), "x/fails.star:3:") || strings.Contains(out.String(), os.TempDir()) {
		t.Errorf("failure:\n%s\nwant it at x/fails.star:3 and no temporary path", out.String())
	}
}

// TestLoadDirLinksOut checks that a challenge directory cannot make clstr
// read a file outside it through a symbolic link: a description or a
// stage that links to a secret is refused, and the secret is not in the
// error.
func TestLoadDirLinksOut(t *testing.T) {
	manifest := `{"key": "c", "name": "C", "stages": [{"key": "s", "title": "S", "script": "s.star", "description": "s.md"}]}`
	for _, link := range []string{"s.md", "s.star"} {
		t.Run(link, func(t *testing.T) {
			top := t.TempDir()
			secret := filepath.Join(top, ".env")
			if err := os.WriteFile(secret, []byte("TOKEN=hunter2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(top, "c")
			files := map[string]string{"challenge.json": manifest, "s.star": "test(\"t\", lambda: None)\n", "s.md": "# S\n"}
			delete(files, link)
			writeTree(t, dir, files)
			if err := os.Symlink("../.env", filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
			c, err := LoadDir(dir)
			if err == nil {
				t.Fatalf("LoadDir read %s through a link out: %+v", link, c.Stages[0].Description)
			}
			if !strings.Contains(err.Error(), "link") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %v; want a refusal of the link, without the secret", err)
			}
		})
	}
}

// TestVetClean checks that `clstr check` finds nothing in any .star file
// of the built-in challenges and the standard library: every check they
// build is run, kept or returned.
func TestVetClean(t *testing.T) {
	var files []string
	for _, root := range []string{".", "../stdlib"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if strings.HasSuffix(p, ".star") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 10 {
		t.Fatalf("found %d .star files: %v; want the challenges' and the stdlib's", len(files), files)
	}
	for _, f := range files {
		if err := starlark.Vet(f, starlark.Options{Stdlib: stdlib.FS}); err != nil {
			t.Errorf("clstr check %s:\n%v", f, err)
		}
	}
}
