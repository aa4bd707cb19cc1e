package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/clstr-dev/clstr/internal/safetext"
)

// Annotations writes the failures of st as GitHub Actions workflow
// commands, one "::error file=…,line=…,col=…,title=…::message" line each,
// which GitHub shows on the script line of a pull request. Files are made
// relative to dir (the working directory, where the workflow checked out
// the repository) when they are inside it.
func Annotations(w io.Writer, st Stage, dir string) error {
	type item struct {
		title string
		f     *Failure
	}
	var items []item
	if st.Error != nil {
		title := st.Stopped
		if title == "" {
			title = "the run stopped"
		}
		items = append(items, item{st.Name + ": " + title, st.Error})
	}
	for _, t := range st.Tests {
		if t.Failure != nil {
			items = append(items, item{st.Name + ": " + t.Name, t.Failure})
		}
	}
	for _, it := range items {
		var props []string
		if p := it.f.Position; p != nil {
			props = append(props, "file="+escapeProperty(relativeTo(dir, p.File)), fmt.Sprintf("line=%d", p.Line))
			if p.Column > 0 {
				props = append(props, fmt.Sprintf("col=%d", p.Column))
			}
		}
		props = append(props, "title="+escapeProperty(it.title))
		msg := it.f.Message
		if it.f.Hint != "" {
			msg += "\nHint: " + it.f.Hint
		}
		if _, err := fmt.Fprintf(w, "::error %s::%s\n", strings.Join(props, ","), escapeData(safetext.Text(msg))); err != nil {
			return err
		}
	}
	return nil
}

// relativeTo makes file relative to dir when it is an absolute path inside
// it; a relative path is relative to dir already.
func relativeTo(dir, file string) string {
	if !filepath.IsAbs(file) || dir == "" {
		return file
	}
	rel, err := filepath.Rel(dir, file)
	if err != nil || strings.HasPrefix(rel, "..") {
		return file
	}
	return filepath.ToSlash(rel)
}

// escapeData escapes the message of a workflow command as the Actions
// runner reads it: %, CR and LF. The caller escapes the other controls
// (safetext), which the log and the annotation would show raw.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a property value of a workflow command, one
// line: its controls (safetext.Line), and as escapeData, and also : and ,
// which end a property.
func escapeProperty(s string) string {
	s = safetext.Line(s)
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
