// Package linpage makes porcupine's visualization of a history (the page
// porcupine.Visualize writes) safe to open: every text of the history
// that the page puts into HTML (an operation's details, a model state's
// description) is escaped, and the page gets a content security policy
// with no network, no inline handler and no script but its own, which it
// names by hash.
//
// The page's script and style are porcupine's, taken from the library
// itself; the history's data is read back from the page porcupine wrote,
// and a page that does not have the library's shape is refused.
package linpage

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/anishathalye/porcupine"
)

// The data of the page, as porcupine v1.3 writes it. Fields whose text
// the page's script shows with innerHTML are marked; the others reach it
// only as textContent, as SVG attributes or as numbers.
type data struct {
	Partitions  []partition
	Annotations []annotation
}

type partition struct {
	History               []historyElement
	PartialLinearizations [][]step
	Largest               map[string]int
}

type historyElement struct {
	ClientId      int
	Start         int
	OriginalStart string // innerHTML
	End           int
	OriginalEnd   string // innerHTML
	Description   string
	Metadata      string // innerHTML
}

type step struct {
	Index            int
	StateDescription string // innerHTML
}

type annotation struct {
	ClientId        int
	Tag             string
	Start           int
	End             int
	Description     string
	Details         string
	Annotation      bool
	TextColor       string // a CSS colour in a style attribute
	BackgroundColor string // a CSS colour in a style attribute
}

// escape makes what the page shows with innerHTML text.
func (d *data) escape() {
	for i := range d.Partitions {
		p := &d.Partitions[i]
		for j := range p.History {
			h := &p.History[j]
			h.Metadata = html.EscapeString(h.Metadata)
			h.OriginalStart = html.EscapeString(h.OriginalStart)
			h.OriginalEnd = html.EscapeString(h.OriginalEnd)
		}
		for _, lin := range p.PartialLinearizations {
			for k := range lin {
				lin[k].StateDescription = html.EscapeString(lin[k].StateDescription)
			}
		}
	}
	for i := range d.Annotations {
		a := &d.Annotations[i]
		a.TextColor, a.BackgroundColor = colour(a.TextColor), colour(a.BackgroundColor)
	}
}

// colourPattern is the one form of colour the page keeps: "#rgb" to
// "#rrggbbaa".
var colourPattern = regexp.MustCompile(`^#[0-9a-fA-F]{3,8}$`)

func colour(s string) string {
	if colourPattern.MatchString(s) {
		return s
	}
	return ""
}

// library is porcupine's page, split around its data.
type library struct {
	head   []byte // everything before the data
	tail   []byte // everything after it
	style  string
	script string
}

var (
	libOnce sync.Once
	lib     library
	libErr  error
)

const dataMark = "const data = "

// porcupinePage splits a page porcupine writes for an empty history into
// the library's style, its script and what surrounds the data.
func porcupinePage() (library, error) {
	libOnce.Do(func() {
		var b bytes.Buffer
		if libErr = porcupine.Visualize(porcupine.Model{
			Init: func() any { return nil },
			Step: func(state, input, output any) (bool, any) { return true, state },
		}, porcupine.LinearizationInfo{}, &b); libErr != nil {
			return
		}
		page := b.String()
		head, rest, ok := strings.Cut(page, dataMark)
		if !ok {
			libErr = errors.New("porcupine's page has no data")
			return
		}
		_, tail, ok := strings.Cut(rest, "\n")
		style, ok1 := between(head, "<style>", "</style>")
		script, ok2 := between(head, "<script>", "")
		if !ok || !ok1 || !ok2 {
			libErr = errors.New("porcupine's page has no style or script")
			return
		}
		lib = library{head: []byte(head + dataMark), tail: []byte("\n" + tail), style: style, script: script}
	})
	return lib, libErr
}

// between returns the text of s after open and before close ("" for the
// end of s).
func between(s, open, close string) (string, bool) {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return "", false
	}
	if close == "" {
		return rest, true
	}
	in, _, ok := strings.Cut(rest, close)
	return in, ok
}

// loader is the page's own script: it reads the data from the element
// that holds it as JSON and draws the view with porcupine's script.
const loader = `
render(JSON.parse(document.getElementById('porcupine-data').textContent))
`

// page is the page Rewrite writes. The data sits in a script element of
// type application/json, which no browser runs; encoding/json escapes <,
// > and &, so no text of it can end that element.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src '%s'; img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'">
<title>Linearizability · clstr</title>
<style>%s</style>
</head>
<body>
<div id="legend">
<svg xmlns="http://www.w3.org/2000/svg" width="660" height="20" viewBox="0 0 660 20">
<text x="0" y="10">Clients</text>
<line x1="50" y1="0" x2="70" y2="20" stroke="#000" stroke-width="1"></line>
<text x="70" y="10">Time</text>
<line x1="110" y1="10" x2="200" y2="10" stroke="#000" stroke-width="2"></line>
<polygon points="200,5 200,15, 210,10" fill="#000"></polygon>
<rect x="300" y="5" width="10" height="10" fill="rgba(0, 0, 0, 0.5)"></rect>
<text x="315" y="10">Valid LP</text>
<rect x="400" y="5" width="10" height="10" fill="rgba(255, 0, 0, 0.5)"></rect>
<text x="415" y="10">Invalid LP</text>
<text x="520" y="10" id="jump-link" class="link">[ jump to first error ]</text>
</svg>
</div>
<div id="canvas"></div>
<div id="calc"></div>
<script type="application/json" id="porcupine-data">`

const pageEnd = `</script>
<script>%s</script>
</body>
</html>
`

// Hash is the content security policy's source of an inline script:
// "sha256-…".
func Hash(script string) string {
	sum := sha256.Sum256([]byte(script))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Rewrite reads a page that porcupine.Visualize wrote from r and writes
// the same view to w as a page safe to open.
func Rewrite(w io.Writer, r io.Reader) error {
	lib, err := porcupinePage()
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head := make([]byte, len(lib.head))
	if _, err := io.ReadFull(br, head); err != nil || !bytes.Equal(head, lib.head) {
		return errors.New("the visualization is not a page of the porcupine version clstr is built with")
	}
	var d data
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return fmt.Errorf("read the visualization's data: %w", err)
	}
	rest, err := io.ReadAll(io.MultiReader(dec.Buffered(), br))
	if err != nil {
		return err
	}
	if !bytes.Equal(rest, lib.tail) {
		return errors.New("the visualization does not end as porcupine's page does")
	}
	return write(w, &d, lib)
}

func write(w io.Writer, d *data, lib library) error {
	d.escape()
	script := lib.script + loader
	if _, err := fmt.Fprintf(w, page, Hash(script), lib.style); err != nil {
		return err
	}
	if err := json.NewEncoder(w).Encode(d); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, pageEnd, script)
	return err
}
