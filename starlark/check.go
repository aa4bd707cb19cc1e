package starlark

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
)

// check is the Starlark value of get(…), put(…) and the other requests: a
// request and what its answers must be. It is immutable: every modifier
// returns a new check, so a check can be kept and extended freely.
type check struct {
	method  string
	sel     selector
	path    string
	body    []byte
	headers map[string]string
	conds   []condition
	hint    string
	timing  engine.Timing
	timeout time.Duration
	made    syntax.Position // of the call that made this check
}

// condition is one modifier's matchers on one field.
type condition struct {
	field string // "status", "body", "json", "header"
	name  string // the JSON path or header name
	ms    []engineMatcher
}

var (
	_ starlark.Value    = (*check)(nil)
	_ starlark.HasAttrs = (*check)(nil)
)

func (c *check) String() string {
	s := fmt.Sprintf("<check %s %s on %s", c.method, c.path, c.sel)
	if c.timing != engine.TimingOnce {
		s += " " + c.timing.String()
		if c.timeout > 0 {
			s += fmt.Sprintf(" %v", c.timeout)
		}
	}
	return s + ">"
}
func (c *check) Type() string         { return "check" }
func (c *check) Freeze()              {}
func (c *check) Truth() starlark.Bool { return starlark.True }
func (c *check) Hash() (uint32, error) {
	return 0, errors.New("unhashable type: check")
}

// with returns a copy of c changed by fn.
func (c *check) with(fn func(*check)) *check {
	cp := *c
	cp.conds = append([]condition(nil), c.conds...)
	fn(&cp)
	return &cp
}

// checkMethods are a check's methods, as the reference documents them.
var checkMethods = []struct {
	Builtin
	call checkMethod
}{
	{Builtin{Name: "status", Signature: "check.status(*matchers)", Summary: "conditions on the status code; all must hold"}, (*check).status},
	{Builtin{Name: "body", Signature: "check.body(*matchers)", Summary: "conditions on the body; all must hold"}, (*check).bodyMethod},
	{Builtin{Name: "json", Signature: "check.json(path, *matchers)", Summary: "conditions on the JSON field at a gjson path; without matchers, the field must exist and not be null"}, (*check).jsonMethod},
	{Builtin{Name: "header", Signature: "check.header(name, *matchers)", Summary: "conditions on a header; without matchers, it must be present"}, (*check).headerMethod},
	{Builtin{Name: "hint", Signature: "check.hint(text)", Summary: "the advice shown when the check fails"}, (*check).hintMethod},
	{Builtin{Name: "eventually", Signature: "check.eventually(timeout=None)", Summary: "retry until the check passes or the timeout (default: the suite's retry_timeout) expires"}, (*check).eventuallyMethod},
	{Builtin{Name: "consistently", Signature: "check.consistently(timeout=None)", Summary: "repeat the check for the whole timeout; every attempt must pass"}, (*check).consistentlyMethod},
	{Builtin{Name: "run", Signature: "check.run()", Summary: "runs the check; returns the response, or a list of them for a selector of several nodes"}, (*check).run},
}

// checkMethod is a method of a check: a builtin with the check as receiver.
type checkMethod = func(c *check, thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)

func (c *check) AttrNames() []string {
	names := make([]string, len(checkMethods))
	for i, m := range checkMethods {
		names[i] = m.Name
	}
	return names
}

func (c *check) Attr(name string) (starlark.Value, error) {
	if b, ok := checkBuiltins[name]; ok {
		return b.BindReceiver(c), nil
	}
	return nil, nil
}

// checkBuiltins are the methods as unbound builtins, made once; Attr binds
// one to its check.
var checkBuiltins = func() map[string]*starlark.Builtin {
	m := map[string]*starlark.Builtin{}
	for _, cm := range checkMethods {
		call := cm.call
		m[cm.Name] = starlark.NewBuiltin(cm.Name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			v, err := call(b.Receiver().(*check), thread, b, args, kwargs)
			if c, ok := v.(*check); ok {
				noteIfThrownAway(thread, c)
			}
			return v, err
		})
	}
	return m
}()

func (c *check) status(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return c.addConds("status", "", b, args, kwargs, 0)
}

func (c *check) bodyMethod(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return c.addConds("body", "", b, args, kwargs, 0)
}

func (c *check) jsonMethod(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) == 0 {
		return nil, errors.New("json: missing argument for path: give a gjson path such as \"role\" or \"peers.#\"")
	}
	path, ok := starlark.AsString(args[0])
	if !ok {
		return nil, fmt.Errorf("json: for parameter path: want a gjson path (a string), got %s", args[0].Type())
	}
	return c.addConds("json", path, b, args, kwargs, 1)
}

func (c *check) headerMethod(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) == 0 {
		return nil, errors.New("header: missing argument for name: give a header name such as \"Location\"")
	}
	name, ok := starlark.AsString(args[0])
	if !ok || name == "" {
		return nil, fmt.Errorf("header: for parameter name: want a header name, got %s", args[0].String())
	}
	return c.addConds("header", name, b, args, kwargs, 1)
}

func (c *check) addConds(field, name string, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, from int) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("%s: takes matchers only, no keyword arguments", b.Name())
	}
	ms, err := matchers(b.Name(), args, from)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		switch field {
		case "json", "header":
			// Naming a field alone asks that it be there.
			ms = []engineMatcher{engineOf(attest.Not(attest.IsNull[any]()))}
		default:
			return nil, fmt.Errorf("%s: give at least one matcher or value, for example .%s(200)", b.Name(), b.Name())
		}
	}
	return c.with(func(c *check) { c.conds = append(c.conds, condition{field, name, ms}) }), nil
}

func (c *check) hintMethod(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "text", &text); err != nil {
		return nil, err
	}
	return c.with(func(c *check) { c.hint = text }), nil
}

func (c *check) eventuallyMethod(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return c.setTiming(engine.TimingEventually, b, args, kwargs)
}

func (c *check) consistentlyMethod(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return c.setTiming(engine.TimingConsistently, b, args, kwargs)
}

func (c *check) setTiming(t engine.Timing, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var timeout durationArg
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "timeout??", &timeout); err != nil {
		return nil, err
	}
	if timeout.given && timeout.d <= 0 {
		return nil, fmt.Errorf("%s: timeout %v must be positive", b.Name(), timeout.d)
	}
	return c.with(func(c *check) { c.timing, c.timeout = t, timeout.d }), nil
}

// run runs the check in the calling test.
func (c *check) run(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	ts := testOf(thread)
	if ts == nil {
		return nil, errors.New("run: call it inside a test or setup function: while the top level runs, the cluster does not exist yet")
	}
	c, err := c.sandboxed(ts)
	if err != nil {
		return nil, err
	}
	resps, err := c.build(ts.do).At(callerPos(thread)).Exec()
	if err != nil {
		return nil, ts.guard.outlived(err)
	}
	if c.sel.single() {
		if len(resps) == 0 {
			return starlark.None, nil
		}
		return newResponse(resps[0], c.path), nil
	}
	vs := make([]starlark.Value, len(resps))
	for i, r := range resps {
		vs[i] = newResponse(r, c.path)
	}
	return starlark.NewList(vs), nil
}

// build makes the engine's check.
func (c *check) build(do *attest.Do) *attest.Check {
	var args []any
	if c.body != nil {
		args = append(args, c.body)
	}
	if len(c.headers) > 0 {
		args = append(args, attest.H(c.headers))
	}
	ac := do.Request(c.method, c.sel.attest(do), c.path, args...)
	for _, cond := range c.conds {
		switch cond.field {
		case "status":
			ac.Status(typed[int](cond.ms)...)
		case "body":
			ac.Body(typed[string](cond.ms)...)
		case "json":
			ac.JSON(cond.name, loose(cond.ms)...)
		case "header":
			ac.Header(cond.name, typed[string](cond.ms)...)
		}
	}
	if c.hint != "" {
		ac.Hint(c.hint)
	}
	switch {
	case c.timing == engine.TimingEventually && c.timeout > 0:
		ac.Eventually(c.timeout)
	case c.timing == engine.TimingEventually:
		ac.Eventually()
	case c.timing == engine.TimingConsistently && c.timeout > 0:
		ac.Consistently(c.timeout)
	case c.timing == engine.TimingConsistently:
		ac.Consistently()
	}
	return ac
}

// noteIfThrownAway records where c, a check the running builtin just made,
// was made, and notes it in the running test when the statement that called the builtin throws the value
// away (get("n1", "/health").status(200) without .run()): such a check can
// never run, and the test ends as the script's error. Anything else may
// still run it — a variable, a list, a return, eventually or concurrently
// — and is left alone.
func noteIfThrownAway(thread *starlark.Thread, c *check) {
	c.made = thread.CallFrame(1).Pos
	ts := testOf(thread)
	if ts == nil || !ts.run.script.bundle.discardedAt(c.made) {
		return
	}
	ts.noteUnrun(c.made.String())
}

// request is the body and headers of a request a script makes.
type request struct {
	body   []byte
	header map[string]string
}

// newRequest reads the path, body and headers of a request of fn, as
// requestParts does, and checks them against the sandbox's limits.
func newRequest(thread *starlark.Thread, fn, path string, body, headers starlark.Value) (request, error) {
	if err := checkPath(fn, path); err != nil {
		return request{}, err
	}
	req, err := requestParts(fn, body, headers)
	if err != nil {
		return request{}, err
	}
	return req, guardOf(thread).checkBody(len(req.body))
}

// requestParts reads a request's body and headers as scripts give them:
// a body is a string, bytes, or a dict or list sent as JSON (with
// Content-Type application/json unless the headers say otherwise).
func requestParts(fn string, body, headers starlark.Value) (request, error) {
	var req request
	hs, err := headerMap(fn, headers)
	if err != nil {
		return req, err
	}
	switch v := body.(type) {
	case starlark.NoneType:
	case starlark.String:
		req.body = []byte(v)
	case starlark.Bytes:
		req.body = []byte(v)
	case *starlark.Dict, *starlark.List, starlark.Tuple:
		g, err := toGo(v)
		if err != nil {
			return req, fmt.Errorf("%s: for parameter body: %w", fn, err)
		}
		req.body, _ = json.Marshal(g)
		if !hasHeader(hs, "Content-Type") {
			if hs == nil {
				hs = map[string]string{}
			}
			hs["Content-Type"] = "application/json"
		}
	default:
		return req, fmt.Errorf("%s: for parameter body: want a string, or a dict or list to send as JSON, got %s", fn, body.Type())
	}
	req.header = hs
	return req, nil
}

func makeRequest(method string) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var sel selectorArg
		var path string
		var body, headers starlark.Value = starlark.None, starlark.None
		if err := starlark.UnpackArgs(b.Name(), args, kwargs,
			"selector", &sel, "path", &path, "body?", &body, "headers?", &headers); err != nil {
			return nil, err
		}
		req, err := newRequest(thread, b.Name(), path, body, headers)
		if err != nil {
			return nil, err
		}
		c := &check{method: method, sel: sel.sel, path: path, body: req.body, headers: req.header}
		noteIfThrownAway(thread, c)
		return c, nil
	}
}

func headerMap(fn string, v starlark.Value) (map[string]string, error) {
	if v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: for parameter headers: want a dict such as {\"Content-Type\": \"text/plain\"}, got %s", fn, v.Type())
	}
	out := make(map[string]string, d.Len())
	for _, item := range d.Items() {
		k, ok1 := starlark.AsString(item[0])
		val, ok2 := starlark.AsString(item[1])
		if !ok1 || !ok2 || k == "" {
			return nil, fmt.Errorf("%s: for parameter headers: want header names and values as strings, got %s: %s", fn, item[0], item[1])
		}
		out[http.CanonicalHeaderKey(k)] = val
	}
	return out, nil
}

func hasHeader(hs map[string]string, name string) bool {
	for k := range hs {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// loose gives matchers the static type of attest.Check.JSON's.
func loose(ms []engineMatcher) []interface{ Expected() string } {
	out := make([]interface{ Expected() string }, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// typed gives matchers the static type a modifier of attest.Check wants.
func typed[T any](ms []engineMatcher) []attest.Matcher[T] {
	out := make([]attest.Matcher[T], len(ms))
	for i, m := range ms {
		out[i] = retyped[T]{m}
	}
	return out
}
