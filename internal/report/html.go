package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/clstr-dev/clstr/internal/report/linpage"
)

// The page is one HTML file with its style, script and data inline, so
// that it opens from disk, offline, and can be mailed or uploaded alone.
var (
	//go:embed page/report.html
	pageHTML string
	//go:embed page/report.css
	pageCSS string
	//go:embed page/report.js
	pageJS string
)

// HTML renders r as one self-contained page: no request leaves it.
func HTML(r *Report) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteHTML writes the page of r to w, the report's data a piece at a
// time. The page's policy allows no request and no script but its own,
// named by its hash.
func WriteHTML(w io.Writer, r *Report) error {
	title := "clstr report"
	if r.Run.Command != "" {
		title += ": " + r.Run.Command
	}
	before, after, ok := strings.Cut(pageHTML, "{{DATA}}")
	if !ok {
		return fmt.Errorf("the report's page has no place for its data")
	}
	// One pass, so that no substituted text is searched again.
	fill := strings.NewReplacer(
		"{{TITLE}}", html.EscapeString(title),
		"{{SCRIPT_HASH}}", linpage.Hash(pageJS),
		"/*{{CSS}}*/", pageCSS,
		"/*{{JS}}*/", pageJS,
	)
	if _, err := fill.WriteString(w, before); err != nil {
		return err
	}
	// encoding/json escapes <, > and & (and U+2028, U+2029), so no string
	// of the report can end the script element that holds it.
	if err := encodeReport(w, r); err != nil {
		return fmt.Errorf("encode the report: %w", err)
	}
	_, err := fill.WriteString(w, after)
	return err
}

// encodeReport writes r as JSON to w with the operations of each history
// and the log lines one at a time, so that no copy of a whole report,
// which a long history makes hundreds of megabytes, is held in memory.
func encodeReport(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	put := func(s string) error {
		_, err := io.WriteString(w, s)
		return err
	}
	head, err := json.Marshal(struct {
		Schema  string `json:"schema"`
		Version int    `json:"version"`
		Run     Run    `json:"run"`
	}{r.Schema, r.Version, r.Run})
	if err != nil {
		return err
	}
	if _, err := w.Write(head[:len(head)-1]); err != nil {
		return err
	}
	if err := put(`,"stages":[`); err != nil {
		return err
	}
	for i := range r.Stages {
		if i > 0 {
			if err := put(","); err != nil {
				return err
			}
		}
		if err := encodeStage(w, enc, &r.Stages[i]); err != nil {
			return err
		}
	}
	return put("]}\n")
}

// encodeStage writes st as encodeReport does.
func encodeStage(w io.Writer, enc *json.Encoder, st *Stage) error {
	put := func(s string) error {
		_, err := io.WriteString(w, s)
		return err
	}
	// The fields of the outer struct hide the stage's own of the same
	// JSON name, which are written below, piece by piece.
	head, err := json.Marshal(struct {
		*Stage
		History json.RawMessage `json:"history,omitempty"`
		Logs    json.RawMessage `json:"logs,omitempty"`
	}{Stage: st})
	if err != nil {
		return err
	}
	if _, err := w.Write(head[:len(head)-1]); err != nil {
		return err
	}
	if h := st.History; h != nil {
		if err := put(`,"history":{"ops":[`); err != nil {
			return err
		}
		for i := range h.Ops {
			if i > 0 {
				if err := put(","); err != nil {
					return err
				}
			}
			if err := enc.Encode(&h.Ops[i]); err != nil {
				return err
			}
		}
		if err := put(`],"events":`); err != nil {
			return err
		}
		events := h.Events
		if events == nil {
			events = []Event{}
		}
		if err := enc.Encode(events); err != nil {
			return err
		}
		if err := put("}"); err != nil {
			return err
		}
	}
	if err := put(`,"logs":[`); err != nil {
		return err
	}
	for i := range st.Logs {
		if i > 0 {
			if err := put(","); err != nil {
				return err
			}
		}
		if err := enc.Encode(&st.Logs[i]); err != nil {
			return err
		}
	}
	return put("]}")
}
