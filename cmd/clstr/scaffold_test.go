package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/registry"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		name, desc, want string
	}{
		{"drops the title, demotes headings",
			"# Store Data\n\nIntro.\n\n## The API\n\ntext\n\n### Detail\n",
			"Intro.\n\n### The API\n\ntext\n\n#### Detail\n"},
		{"leaves code blocks alone",
			"## Run\n\n```sh\n# a shell comment\nclstr test\n```\n\n## After\n",
			"### Run\n\n```sh\n# a shell comment\nclstr test\n```\n\n### After\n"},
		{"no title", "Plain text.\n", "Plain text.\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := describe(&registry.Stage{Description: tc.desc}); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestLanguage(t *testing.T) {
	for in, want := range map[string]string{"go": "go", "Golang": "go", "rust": "rust", "py": "python", "java": "java", "javascript": "node"} {
		if got, err := language(in); err != nil || got != want {
			t.Errorf("language(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := language("cobol"); err == nil || !strings.Contains(err.Error(), "choose one of go, rust, python, java, node") {
		t.Errorf("language(cobol): %v", err)
	}
}

// TestScaffold checks what init writes for every challenge, those in Starlark
// and one registered from Go alike, in every language.
func TestScaffold(t *testing.T) {
	challenges := append(registry.Default.Challenges(), testRegistry().Challenges()...)
	starters := map[string][]string{
		"go":     {"main.go", "go.mod"},
		"rust":   {"Cargo.toml", "src/main.rs"},
		"python": {"main.py"},
		"java":   {"Main.java"},
		"node":   {"index.js", "package.json"},
	}
	for _, c := range challenges {
		for _, lang := range languages {
			t.Run(c.Key+"/"+lang, func(t *testing.T) {
				files, err := scaffold(c, lang, "")
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]string{}
				for _, f := range files {
					got[f.name] = string(f.data)
				}
				for _, want := range append([]string{"README.md", "clstr.yaml", "Dockerfile", ".gitignore"}, starters[lang]...) {
					if _, ok := got[want]; !ok {
						t.Errorf("no %s among %v", want, keys(got))
					}
				}
				for name := range got {
					if strings.HasSuffix(name, ".tmpl") || name == "gitignore" {
						t.Errorf("template name %s written as is", name)
					}
				}
				if want := "challenge: " + c.Key + "\nstage: " + c.Stages[0].Key + "\n"; got["clstr.yaml"] != want {
					t.Errorf("clstr.yaml = %q; want %q", got["clstr.yaml"], want)
				}
				if !strings.Contains(got[".gitignore"], ".clstr/") {
					t.Errorf(".gitignore does not leave out .clstr/:\n%s", got[".gitignore"])
				}
				if !strings.Contains(got[".dockerignore"], ".clstr/") {
					t.Errorf(".dockerignore does not leave .clstr/, which every run rewrites, out of the build context:\n%s", got[".dockerignore"])
				}
				if !strings.Contains(got["Dockerfile"], "clstr test --binary") && !strings.Contains(got["Dockerfile"], "--binary PATH") {
					t.Errorf("the Dockerfile does not say how to test with no registry:\n%s", got["Dockerfile"])
				}
				readme := got["README.md"]
				wants := []string{"# " + c.Name + "\n", c.Summary, "clstr test", "clstr next", "clstr status", "clstr logs", "clstr clean", "--binary"}
				for i, s := range c.Stages {
					wants = append(wants, "## "+readmeSection(i, s)+"\n", s.Summary)
					if s.Description != "" {
						wants = append(wants, describe(s))
					}
				}
				for _, w := range wants {
					if !strings.Contains(readme, w) {
						t.Errorf("README.md does not contain %q", w)
					}
				}
			})
		}
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestWriteNewRefusesToOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	files := []file{{"a.txt", []byte("a")}, {"sub/b.txt", []byte("b")}}
	if _, err := writeNew(dir, files); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "sub/b.txt")); string(data) != "b" {
		t.Errorf("sub/b.txt = %q", data)
	}
	// One of the files exists: nothing is written, and the error names it.
	_, err := writeNew(dir, []file{{"c.txt", []byte("c")}, {"a.txt", []byte("new")}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "a.txt")+" already exists") || !strings.Contains(err.Error(), "never overwrites") {
		t.Fatalf("error %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(data) != "a" {
		t.Errorf("a.txt overwritten: %q", data)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.txt")); err == nil {
		t.Errorf("c.txt written although init refused")
	}
}

// TestInitInARepository starts a challenge in a directory that has its own
// .gitignore (a repository, say): init adds the lines it lacks, once,
// and keeps the others.
func TestInitInARepository(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{".gitignore": "*.log\n/.clstr\nnotes/"})
	c, _ := registry.Default.Lookup("kv-store")
	files, err := scaffold(c, "go", "")
	if err != nil {
		t.Fatal(err)
	}
	extended, err := writeNew(dir, files)
	if err != nil {
		t.Fatalf("init in a directory with a .gitignore: %v", err)
	}
	if strings.Join(extended, ",") != ".gitignore" {
		t.Errorf("extended %v; want .gitignore", extended)
	}
	got, _ := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if want := "*.log\n/.clstr\nnotes/\n\n# clstr\nserver\n"; string(got) != want {
		t.Errorf(".gitignore:\n%s\nwant:\n%s", got, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, ".dockerignore")); !strings.Contains(string(got), ".clstr/") {
		t.Errorf(".dockerignore:\n%s", got)
	}
	// Again, into a directory where everything but the ignore files exists.
	if _, err := writeNew(dir, files); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("init again: %v", err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, ".gitignore")); string(again) != string(got) {
		t.Errorf("a refused init changed .gitignore:\n%s", again)
	}
}

func TestWriteNewIntoAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("x"), 0o644)
	_, err := writeNew(path, []file{{"a.txt", []byte("a")}})
	if err == nil || !strings.Contains(err.Error(), path+" is a file, not a directory") {
		t.Errorf("error %v", err)
	}
}

// TestGossipStarters checks that the gossip challenge's starters stub its
// routes and read PEERS, in every language, and that kv-store keeps the
// generic ones.
func TestGossipStarters(t *testing.T) {
	main := map[string]string{"go": "main.go", "rust": "src/main.rs", "python": "main.py", "java": "Main.java", "node": "index.js"}
	for _, key := range []string{"gossip", "kv-store"} {
		c, _ := registry.Default.Lookup(key)
		for _, lang := range languages {
			files, err := scaffold(c, lang, "")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, f := range files {
				if f.name != main[lang] {
					continue
				}
				n++
				gossip := strings.Contains(string(f.data), "PEERS") && strings.Contains(string(f.data), "/broadcast")
				if gossip != (key == "gossip") {
					t.Errorf("%s/%s: %s stubs the gossip routes: %v", key, lang, f.name, gossip)
				}
			}
			if n != 1 {
				t.Errorf("%s/%s: %d files named %s", key, lang, n, main[lang])
			}
		}
	}
}
