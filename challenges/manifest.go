package challenges

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
)

// ManifestName is the file that describes a challenge, in its directory.
const ManifestName = "challenge.json"

// Manifest is a challenge.json: a challenge and its stages, in order.
//
//	{
//	  "key": "kv-store",
//	  "name": "Distributed Key-Value Store",
//	  "summary": "Build a key-value store, then make it durable and replicate it with Raft.",
//	  "stages": [
//	    {"key": "http-api", "title": "Store and Retrieve Data",
//	     "summary": "PUT, GET and DELETE keys over HTTP.",
//	     "script": "http-api.star", "description": "http-api.md"},
//	    {"key": "leader-election", "title": "Cluster Elects and Maintains Leader",
//	     "summary": "…", "script": "../raft/election.star"}
//	  ]
//	}
//
// Paths are slash-separated and relative to the manifest's directory;
// they may name files elsewhere in the same tree (the built-in kv-store
// challenge takes its Raft stages from ../raft), but never outside it.
type Manifest struct {
	// Key identifies the challenge: lower-case letters, digits and dashes.
	Key string `json:"key"`
	// Name is the challenge's title.
	Name string `json:"name"`
	// Summary says in a few lines what the learner builds.
	Summary string `json:"summary"`
	// Stages are the stages, in the order a learner solves them.
	Stages []ManifestStage `json:"stages"`
}

// ManifestStage is one stage of a manifest.
type ManifestStage struct {
	// Key identifies the stage within the challenge, as Manifest.Key.
	Key string `json:"key"`
	// Title is the stage's name: "Store and Retrieve Data".
	Title string `json:"title"`
	// Summary is one line on what the stage asks.
	Summary string `json:"summary"`
	// Script is the stage's .star file.
	Script string `json:"script"`
	// Description is a Markdown file with what `clstr init` writes into
	// the learner's README for this stage: the HTTP contract, what is
	// tested, tips. By default the script's name with .md for .star; a
	// stage without one has an empty description.
	Description string `json:"description,omitempty"`
}

// keyPattern is what challenge and stage keys look like: "kv-store",
// "http-api".
var keyPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// parseManifest decodes and checks a manifest; name is how errors name
// the file. Unknown fields are errors, so that a misspelt field is not
// silently ignored.
func parseManifest(name string, data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: more than one JSON value", name)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if !keyPattern.MatchString(m.Key) {
		bad("key %q: give the challenge a key of lower-case letters, digits and dashes, such as \"kv-store\"", m.Key)
	}
	if strings.TrimSpace(m.Name) == "" {
		bad("name is empty: give the challenge a title")
	}
	if len(m.Stages) == 0 {
		bad("no stages: list them in \"stages\", in order")
	}
	seen := map[string]bool{}
	for i, s := range m.Stages {
		at := fmt.Sprintf("stage %d", i+1)
		if s.Key != "" {
			at = fmt.Sprintf("stage %d (%s)", i+1, s.Key)
		}
		switch {
		case !keyPattern.MatchString(s.Key):
			bad("%s: key %q: use lower-case letters, digits and dashes, such as \"http-api\"", at, s.Key)
		case seen[s.Key]:
			bad("%s: key %q is used by an earlier stage", at, s.Key)
		}
		seen[s.Key] = true
		if strings.TrimSpace(s.Title) == "" {
			bad("%s: title is empty", at)
		}
		if !strings.HasSuffix(s.Script, ".star") {
			bad("%s: script %q: name the stage's .star file", at, s.Script)
		}
		if s.Description != "" && !strings.HasSuffix(s.Description, ".md") {
			bad("%s: description %q: name a Markdown (.md) file", at, s.Description)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &m, nil
}

// resolve returns the path in the tree of a file that the manifest in
// directory dir names as rel, or an error if rel leaves the tree.
func resolve(dir, rel string) (string, error) {
	if rel == "" || path.IsAbs(rel) || strings.Contains(rel, `\`) {
		return "", fmt.Errorf("%q: give a slash-separated path relative to the manifest", rel)
	}
	p := path.Join(dir, rel)
	if !fs.ValidPath(p) {
		return "", fmt.Errorf("%q leaves the challenge's directory tree", rel)
	}
	return p, nil
}
