package watch

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestGitPatterns(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"", nil},
		{"# comment", nil},
		{"*.log", []string{"*.log", "**/*.log"}},
		{"bin/", []string{"bin", "**/bin"}},
		{"/out", []string{"out"}},
		{"build/cache", []string{"build/cache"}},
		{"!keep.log", []string{"!keep.log", "!**/keep.log"}},
		{`\#literal`, []string{"#literal", "**/#literal"}},
		{"trailing   ", []string{"trailing", "**/trailing"}},
	}
	for _, tc := range tests {
		if got := gitPatterns(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("gitPatterns(%q) = %q; want %q", tc.line, got, tc.want)
		}
	}
}

func TestSources(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("*.log\n!keep.log\n/bin\nvendor/\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("*\n!src\n!go.mod\n"), 0o644)
	skip, err := Sources(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rel   string
		isDir bool
		want  bool
	}{
		{"Dockerfile", false, false},
		{".dockerignore", false, false},
		{"go.mod", false, false},
		{"src", true, false},
		{"src/main.go", false, false},
		{"README.md", false, true}, // the build never sees it
		{"src/debug.log", false, true},
		{"src/keep.log", false, false},
		{"bin", true, true},
		{"src/bin", true, false}, // /bin is anchored
		{"src/vendor", true, true},
		{".git", true, true},
		{"src/.git", true, true},
		{".clstr", true, true},
		{"data", true, true},
		{"src/data", true, false}, // only the top-level data/
		{"target", true, true},
		{"src/node_modules/x.js", false, true},
	}
	for _, tc := range tests {
		if got := skip(tc.rel, tc.isDir); got != tc.want {
			t.Errorf("skip(%q, dir=%v) = %v; want %v", tc.rel, tc.isDir, got, tc.want)
		}
	}
}
