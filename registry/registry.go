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
type Registry struct {
	mu         sync.Mutex // guards challenges
	challenges map[string]*Challenge
}

// Register adds a challenge under key and sets its Key. It panics if key
// is empty or already taken, since that is a mistake in the program.
func (r *Registry) Register(key string, c *Challenge) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key == "" {
		panic("registry: challenge without a key")
	}
	if _, dup := r.challenges[key]; dup {
		panic(fmt.Sprintf("registry: challenge %q registered twice", key))
	}
	if r.challenges == nil {
		r.challenges = map[string]*Challenge{}
	}
	c.Key = key
	r.challenges[key] = c
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
