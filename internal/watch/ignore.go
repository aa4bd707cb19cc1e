package watch

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// alwaysSkipped are directories that never hold a target's sources, at any
// depth: version control, clstr's own logs, dependency caches.
var alwaysSkipped = map[string]bool{
	".git": true, ".hg": true, ".svn": true, ".jj": true,
	".clstr":       true,
	"node_modules": true, "__pycache__": true, ".venv": true,
	".idea": true, ".vscode": true,
}

// topSkipped are directories at the top of a target that hold a node's data
// when it is run by hand (DATA_DIR=./data) or a build's output, not
// sources.
var topSkipped = map[string]bool{"data": true, ".data": true, "target": true}

// Sources returns a Skip function for a Tree of a program's sources in dir:
// it leaves out what the directory's .dockerignore keeps out of an image
// build, what its .gitignore ignores, version control and dependency
// directories at any depth (.git, node_modules, …), clstr's .clstr/, and
// the data and build-output directories data/, .data/ and target/ at the
// top. The Dockerfile and .dockerignore always count.
func Sources(dir string) (func(rel string, isDir bool) bool, error) {
	var patterns []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		ps, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
		patterns = append(patterns, ps...)
	}
	gi, err := readGitignore(filepath.Join(dir, ".gitignore"))
	if err != nil {
		return nil, err
	}
	// Two matchers, each with its own exceptions: what either leaves out
	// is left out.
	var matchers []*patternmatcher.PatternMatcher
	for _, ps := range [][]string{patterns, gi} {
		pm, err := patternmatcher.New(ps)
		if err != nil {
			return nil, fmt.Errorf("ignore patterns of %s: %w", dir, err)
		}
		matchers = append(matchers, pm)
	}
	var mu sync.Mutex // guards matchers, which are not safe for concurrent use
	return func(rel string, isDir bool) bool {
		if rel == "Dockerfile" || rel == ".dockerignore" {
			return false
		}
		parts := strings.Split(rel, "/")
		if isDir && len(parts) == 1 && topSkipped[parts[0]] {
			return true
		}
		for i, p := range parts {
			if alwaysSkipped[p] && (isDir || i < len(parts)-1) {
				return true
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, pm := range matchers {
			if skip, err := pm.MatchesOrParentMatches(rel); err == nil && skip {
				return true
			}
		}
		return false
	}, nil
}

// readGitignore reads a .gitignore and turns its patterns into the
// .dockerignore syntax that patternmatcher reads: a pattern without a
// slash matches at any depth, one with a slash is anchored to the
// directory. A missing file is no pattern.
func readGitignore(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, gitPatterns(sc.Text())...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// gitPatterns converts one .gitignore line; comments and blank lines give
// none.
func gitPatterns(line string) []string {
	line = strings.TrimRight(line, " \t\r")
	if line == "" || strings.HasPrefix(line, "#") {
		return nil
	}
	neg := ""
	if rest, ok := strings.CutPrefix(line, "!"); ok {
		neg, line = "!", rest
	}
	line = strings.TrimPrefix(line, `\`)
	// A trailing slash means "directories only"; that distinction is lost,
	// which at worst leaves out a file named like an ignored directory.
	line = strings.TrimRight(line, "/")
	if line == "" {
		return nil
	}
	if anchored := strings.Contains(line, "/"); anchored {
		return []string{neg + strings.TrimPrefix(line, "/")}
	}
	return []string{neg + line, neg + "**/" + line}
}
