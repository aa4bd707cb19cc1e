// Package registry holds the challenges clstr knows: each a named,
// ordered list of stages, each stage backed by an attest suite.
//
// Go challenges register themselves from an init function:
//
//	func init() {
//		c := &registry.Challenge{Name: "Distributed Key-Value Store", Summary: "…"}
//		c.AddStage("http-api", "Store and Retrieve Data", HTTPAPI)
//		registry.RegisterChallenge("kv-store", c)
//	}
//
// Challenges written in Starlark add Stages whose Suite function loads
// their script.
package registry

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/clstr-dev/clstr/attest"
)

// Challenge is a sequence of stages that build on each other.
type Challenge struct {
	// Key identifies the challenge ("kv-store"); RegisterChallenge sets it.
	Key string
	// Name is the challenge's title: "Distributed Key-Value Store".
	Name string
	// Summary says in a few lines what the learner builds.
	Summary string
	// Stages are the stages in order.
	Stages []*Stage
}

// Stage is one step of a challenge.
type Stage struct {
	// Key identifies the stage within its challenge ("http-api").
	Key string
	// Title is the stage's name: "Store and Retrieve Data".
	Title string
	// Summary is a one-line description, Description the full one (what
	// `clstr init` writes into the learner's README); both may be empty.
	Summary     string
	Description string
	// Suite returns the stage's test suite. It is called each time the
	// stage runs; an error means the stage could not be loaded (a script
	// that does not parse, for example).
	Suite func() (*attest.Suite, error)
}

// AddStage appends a stage whose suite fn returns. It panics if the
// challenge already has a stage with that key, since that is a mistake in
// the challenge's code.
func (c *Challenge) AddStage(key, title string, fn func() *attest.Suite) {
	c.Add(&Stage{Key: key, Title: title, Suite: func() (*attest.Suite, error) {
		return fn(), nil
	}})
}

// Add appends a stage. It panics if the stage has no key or no suite, or
// if the challenge already has a stage with its key.
func (c *Challenge) Add(s *Stage) {
	switch {
	case s.Key == "":
		panic("registry: stage without a key")
	case s.Suite == nil:
		panic(fmt.Sprintf("registry: stage %q has no suite", s.Key))
	}
	if _, dup := c.Stage(s.Key); dup {
		panic(fmt.Sprintf("registry: challenge %q has two stages %q", c.Name, s.Key))
	}
	c.Stages = append(c.Stages, s)
}

// Stage returns the stage with the given key.
func (c *Challenge) Stage(key string) (*Stage, bool) {
	for _, s := range c.Stages {
		if s.Key == key {
			return s, true
		}
	}
	return nil, false
}

// Registry is a set of challenges by key. Its methods are safe for
// concurrent use. The package functions use a default registry.
//
// Registering never panics: a challenge of the program may take the key of
// a built-in one, which it replaces (Notes says so), and a mistake — an
// empty key, or two challenges of the program under one key — is kept for
// Err, which the clstr command reports before it does anything else.
type Registry struct {
	mu         sync.Mutex // guards the fields below
	challenges map[string]*Challenge
	builtin    map[string]bool // keys whose challenge is built in
	notes      []string
	errs       []error
}

// Register adds a challenge under key and sets its Key. If key is that of
// a built-in challenge, c replaces it, whichever was registered first, and
// Notes says so; to keep both, register c under another key. An empty key,
// or a key another challenge of the program has, is a mistake that Err
// reports; the first challenge under a key stays.
func (r *Registry) Register(key string, c *Challenge) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(key, c, false)
}

// RegisterBuiltin adds one of clstr's own challenges under key: as
// Register, except that a challenge of the program under the same key,
// registered before or after, takes precedence.
func (r *Registry) RegisterBuiltin(key string, c *Challenge) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(key, c, true)
}

func (r *Registry) add(key string, c *Challenge, builtin bool) {
	if key == "" {
		r.errs = append(r.errs, fmt.Errorf("a challenge (%q) was registered without a key: give RegisterChallenge a key such as \"my-store\"", c.Name))
		return
	}
	if r.challenges == nil {
		r.challenges, r.builtin = map[string]*Challenge{}, map[string]bool{}
	}
	if old, taken := r.challenges[key]; taken {
		switch {
		case r.builtin[key] && !builtin:
			r.notes = append(r.notes, fmt.Sprintf("challenge %q (%s) replaces the built-in challenge %q (%s); register it under another key to keep both",
				key, c.Name, key, old.Name))
		case builtin && !r.builtin[key]:
			r.notes = append(r.notes, fmt.Sprintf("challenge %q (%s) replaces the built-in challenge %q (%s); register it under another key to keep both",
				key, old.Name, key, c.Name))
			return
		default:
			r.errs = append(r.errs, fmt.Errorf("challenge %q is registered twice (%s, then %s): give each challenge its own key", key, old.Name, c.Name))
			return
		}
	}
	c.Key = key
	r.challenges[key] = c
	r.builtin[key] = builtin
}

// Notes returns what registration decided that a user should know: which
// built-in challenges a challenge of the program replaced.
func (r *Registry) Notes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.notes)
}

// Err returns the mistakes of registration, joined, or nil.
func (r *Registry) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}

// Lookup returns the challenge registered under key.
func (r *Registry) Lookup(key string) (*Challenge, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.challenges[key]
	return c, ok
}

// Challenges returns every registered challenge, ordered by key.
func (r *Registry) Challenges() []*Challenge {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Challenge, 0, len(r.challenges))
	for _, c := range r.challenges {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Challenge) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Default is the registry of the package functions.
var Default = &Registry{}

// RegisterChallenge adds a challenge to the default registry under key; see
// Registry.Register.
func RegisterChallenge(key string, c *Challenge) { Default.Register(key, c) }

// Lookup returns the challenge registered under key in the default
// registry.
func Lookup(key string) (*Challenge, bool) { return Default.Lookup(key) }

// Challenges returns the challenges of the default registry, ordered by
// key.
func Challenges() []*Challenge { return Default.Challenges() }
