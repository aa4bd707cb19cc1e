package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"strings"
)

// The page is one HTML file with its style, script and data inline, so
// that it opens from disk, offline, and can be mailed or uploaded alone.
var (
	//go:embed page/report.html
	pageHTML []byte
	//go:embed page/report.css
	pageCSS []byte
	//go:embed page/report.js
	pageJS []byte
)

// HTML renders r as one self-contained page: no request leaves it.
func HTML(r *Report) ([]byte, error) {
	// encoding/json escapes <, > and & (and U+2028, U+2029), so no string
	// of the report can end the script element that holds it.
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode the report: %w", err)
	}
	title := "clstr report"
	if r.Run.Command != "" {
		title += ": " + r.Run.Command
	}
	// One pass, so that no substituted text is searched again.
	page := strings.NewReplacer(
		"{{TITLE}}", html.EscapeString(title),
		"/*{{CSS}}*/", string(pageCSS),
		"/*{{JS}}*/", string(pageJS),
		"{{DATA}}", string(data),
	).Replace(string(pageHTML))
	return []byte(page), nil
}
