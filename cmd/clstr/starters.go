package main

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// withStarters puts a built-in challenge's own starter sources in place
// of the language's generic ones: templates/challenges/<key>/<lang>/
// holds, for a challenge that has them, files named as the generic
// templates are (main.go.tmpl, src/main.rs.tmpl), which stub its routes.
func withStarters(files []file, key, lang string) ([]file, error) {
	starters, err := templateFiles(path.Join("templates", "challenges", key, lang))
	if errors.Is(err, fs.ErrNotExist) {
		return files, nil
	}
	if err != nil {
		return nil, err
	}
	for _, st := range starters {
		if i := slices.IndexFunc(files, func(f file) bool { return f.name == st.name }); i >= 0 {
			files[i].data = st.data
		} else {
			files = append(files, st)
		}
	}
	return files, nil
}

// templateFiles reads the templates under root, named by their paths
// below it without ".tmpl".
func templateFiles(root string) ([]file, error) {
	var files []file
	err := fs.WalkDir(templates, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, file{strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl"), data})
		return nil
	})
	return files, err
}
