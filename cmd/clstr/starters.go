package main

import (
	"errors"
	"io/fs"
	"path"
	"strings"
)

// withStarters puts a built-in challenge's own starter sources in place
// of the language's generic ones: templates/challenges/<key>/<lang>/
// holds, for a challenge that has them, files named as the generic
// templates are (main.go.tmpl, src/main.rs.tmpl), which stub its routes.
func withStarters(files []file, key, lang string) ([]file, error) {
	root := path.Join("templates", "challenges", key, lang)
	err := fs.WalkDir(templates, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		for i := range files {
			if files[i].name == name {
				files[i].data = data
				return nil
			}
		}
		files = append(files, file{name, data})
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return files, nil
	}
	return files, err
}
