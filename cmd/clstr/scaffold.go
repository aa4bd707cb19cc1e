package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/challenges"
	"github.com/clstr-dev/clstr/registry"
)

// templates holds what `clstr init` writes: README.md.tmpl, and per
// language a Dockerfile, a gitignore and starter sources, named with .tmpl
// so that the Go tools leave them alone.
//
//go:embed templates
var templates embed.FS

// languages are the languages `clstr init` has templates for.
var languages = []string{"go", "rust", "python", "java", "node"}

// languageAliases are other names for them.
var languageAliases = map[string]string{
	"golang": "go", "rs": "rust", "py": "python", "python3": "python",
	"js": "node", "javascript": "node", "nodejs": "node",
}

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "start a challenge in a new directory",
		ArgsUsage: "CHALLENGE [DIR]",
		Description: "Writes into DIR (by default a new directory named after the challenge) a README.md\n" +
			"with every stage's description, " + progressFile + " (the challenge and the stage you are on),\n" +
			"a Dockerfile for the language, a starter program, a .gitignore and a .dockerignore. It\n" +
			"never overwrites a file; to a .gitignore or .dockerignore that exists (a repository of\n" +
			"yours, say) it adds the lines clstr needs. 'clstr list' shows the challenges.\n\n" +
			"CHALLENGE may also be a community challenge: a directory with a challenge.json, or a\n" +
			".tar.gz, .tgz or .zip of one; its stages run sandboxed, as 'clstr run' runs a script.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "language", Aliases: []string{"l"}, Value: "go",
				Usage: "write a Dockerfile and starter for `LANG`: " + strings.Join(languages, ", ")},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageError{"init: give a challenge and optionally a directory: clstr init CHALLENGE [DIR]; 'clstr list' shows the challenges"}
			}
			key := c.Args().Get(0)
			lang, err := language(c.String("language"))
			if err != nil {
				return usageError{"init: " + err.Error()}
			}
			dir := c.Args().Get(1)
			ch, source := (*registry.Challenge)(nil), ""
			if isChallengeSource(key) {
				if dir == "" {
					return usageError{fmt.Sprintf("init: name the directory to start %s in: clstr init %s DIR", key, key)}
				}
				if ch, source, err = prepareSource(key, dir); err != nil {
					fmt.Fprintf(c.App.ErrWriter, "clstr: init: %v\n", err)
					return exitStatus(exitError)
				}
			} else {
				var ok bool
				if ch, ok = registry.Default.Lookup(key); !ok {
					var keys []string
					for _, ch := range registry.Default.Challenges() {
						keys = append(keys, ch.Key)
					}
					return usageError{fmt.Sprintf("init: no challenge %q%s; 'clstr list' shows the challenges, and a path names a challenge directory (with a %s) or an archive of one", key, didYouMean(key, keys), challenges.ManifestName)}
				}
			}
			if dir == "" {
				dir = ch.Key
			}
			files, err := scaffold(ch, lang, source)
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "clstr: init: %v\n", err)
				return exitStatus(exitError)
			}
			extended, err := writeNew(dir, files)
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "clstr: init: %v\n", err)
				return exitStatus(exitError)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "Started %s in %s (%s):\n", ch.Name, dir, lang)
			for _, f := range files {
				note := ""
				if slices.Contains(extended, f.name) {
					note = " (added what clstr needs to the one there)"
				}
				fmt.Fprintf(w, "  %s%s\n", filepath.Join(dir, filepath.FromSlash(f.name)), note)
			}
			first := ch.Stages[0]
			fmt.Fprintf(w, "\nYour first stage is %s: %s.\n", first.Key, first.Title)
			fmt.Fprintf(w, "Read README.md, write your server, then:\n\n  cd %s\n  clstr test\n", dir)
			return nil
		},
	}
}

// language returns the template name for a --language value.
func language(name string) (string, error) {
	name = strings.ToLower(name)
	if alias, ok := languageAliases[name]; ok {
		name = alias
	}
	if !slices.Contains(languages, name) {
		return "", fmt.Errorf("no templates for --language %q; choose one of %s (any language works: edit the Dockerfile)", name, strings.Join(languages, ", "))
	}
	return name, nil
}

// file is one file `clstr init` writes; name is slash-separated.
type file struct {
	name string
	data []byte
}

// scaffold returns the files of a new challenge directory for c in the
// language lang, in the order they are written; source is where a
// community challenge is, "" for a built-in one.
func scaffold(c *registry.Challenge, lang, source string) ([]file, error) {
	readme, err := renderReadme(c)
	if err != nil {
		return nil, err
	}
	yaml := progress{Challenge: c.Key, Stage: c.Stages[0].Key}.encode()
	if source != "" {
		yaml = withKey(yaml, "source", source)
	}
	files := []file{
		{"README.md", readme},
		{progressFile, yaml},
	}
	generic, err := templateFiles(path.Join("templates", lang))
	if err != nil {
		return nil, fmt.Errorf("templates for %s: %w", lang, err)
	}
	for _, f := range generic {
		if f.name == "gitignore" || f.name == "dockerignore" {
			f.name = "." + f.name
		}
		files = append(files, f)
	}
	if source == "" {
		return withStarters(files, c.Key, lang)
	}
	return files, nil
}

// ignoreFiles are the files of a challenge directory that list what git
// and Docker leave out: where one exists, init adds the lines it lacks.
var ignoreFiles = []string{".gitignore", ".dockerignore"}

// writeNew writes files into dir, creating it if need be. If any of them
// but an ignore file exists already it writes none and says which; an
// ignore file that exists gets the lines it lacks. It returns what it
// added to.
func writeNew(dir string, files []file) (extended []string, err error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("%s is a file, not a directory: give a directory (clstr init CHALLENGE DIR)", dir)
	}
	var exist []string
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if _, err := os.Lstat(p); err == nil {
			if !slices.Contains(ignoreFiles, f.name) {
				exist = append(exist, p)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if len(exist) > 0 {
		verb := "exist"
		if len(exist) == 1 {
			verb = "exists"
		}
		return nil, fmt.Errorf("%s already %s, and clstr init never overwrites a file: "+
			"give a new directory (clstr init CHALLENGE DIR), or move them away",
			strings.Join(exist, ", "), verb)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return extended, err
		}
		if slices.Contains(ignoreFiles, f.name) {
			added, err := addMissingLines(p, f.data)
			if added {
				extended = append(extended, f.name)
			}
			if err != nil {
				return extended, err
			}
			continue
		}
		// O_EXCL: a file that appeared since the check is not overwritten.
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return extended, err
		}
		_, err = fh.Write(f.data)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return extended, err
		}
	}
	return extended, nil
}

// addMissingLines appends to the file at p, creating it if need be, the
// lines of want it does not have yet, under a comment that says whose
// they are. added is true when the file existed and grew.
func addMissingLines(p string, want []byte) (added bool, err error) {
	old, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, os.WriteFile(p, want, 0o644)
	}
	if err != nil {
		return false, err
	}
	// "/.clstr", ".clstr" and ".clstr/" are the same line here.
	norm := func(l string) string { return strings.Trim(strings.TrimSpace(l), "/") }
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		have[norm(l)] = true
	}
	var missing []string
	for _, l := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		if !have[norm(l)] {
			missing = append(missing, l)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	var b bytes.Buffer
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		b.WriteByte('\n')
	}
	b.WriteString("\n# clstr\n" + strings.Join(missing, "\n") + "\n")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return false, err
	}
	_, err = f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err == nil, err
}

var readmeTemplate = template.Must(template.New("README.md.tmpl").Funcs(template.FuncMap{
	"inc":      func(i int) int { return i + 1 },
	"heading":  stageHeading,
	"describe": describe,
}).ParseFS(templates, "templates/README.md.tmpl"))

// renderReadme writes the README of a challenge directory: the challenge,
// how to test, and every stage's description.
func renderReadme(c *registry.Challenge) ([]byte, error) {
	var b bytes.Buffer
	err := readmeTemplate.Execute(&b, struct {
		*registry.Challenge
		Progress string
	}{c, progressFile})
	if err != nil {
		return nil, fmt.Errorf("README.md: %w", err)
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n'), nil
}

// describe fits a stage's Markdown description under the README's stage
// heading: it drops a first "# " heading (the README has its own) and
// moves every other heading one level down, leaving code blocks alone.
func describe(s *registry.Stage) string {
	lines := strings.Split(strings.TrimSpace(s.Description), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "# ") {
		lines = lines[1:]
		for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
			lines = lines[1:]
		}
	}
	fence := ""
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
		case strings.HasPrefix(trimmed, "```"), strings.HasPrefix(trimmed, "~~~"):
			fence = trimmed[:3]
		case strings.HasPrefix(l, "#"):
			lines[i] = "#" + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
