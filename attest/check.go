package attest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/clstr-dev/clstr/attest/engine"
)

// Check is a request to one or more nodes and what their answers must be.
// Build it with Do's request methods and the modifiers below, then call Run
// (or Exec). Modifiers change the check and return it, so they chain:
//
//	do.GET(Node("n1"), "/kv/key").
//		Eventually().
//		Status(Is(200)).
//		Body(Is("value")).
//		Hint("A replica should receive the write.").
//		Run()
//
// A check sends its requests to the selected nodes in parallel; by default
// it runs once, at once. A check that never runs sends nothing and checks
// nothing: a test that built one and ends without having run it is the
// suite's error (not the target's), at the line that built it.
type Check struct {
	d       *Do
	method  string
	sel     NodeSelector
	path    string
	body    []byte
	header  H
	conds   []condition
	hint    string
	timing  engine.Timing
	timeout time.Duration
	pos     string
	// err is a mistake in building the check, reported when it runs.
	err error
}

// condition is one matcher on one field of a response.
type condition struct {
	field fieldKind
	name  string // header name or JSON path
	m     any    // a Matcher[T] of some T
}

type fieldKind int

const (
	fieldStatus fieldKind = iota
	fieldBody
	fieldHeader
	fieldJSON
)

func (c condition) describe() string {
	switch c.field {
	case fieldStatus:
		return "status"
	case fieldBody:
		return "body"
	case fieldHeader:
		return "header " + c.name
	}
	return "JSON " + strconv.Quote(c.name)
}

func (d *Do) newCheck(method string, sel NodeSelector, path string, args []any) *Check {
	c := &Check{d: d, method: method, sel: sel, path: path}
	// Called by GET, PUT, … or Request, which the test called.
	d.built.add(c, callerSite(2))
	body, header, err := requestArgs(args)
	if err != nil {
		c.fault(fmt.Errorf("%s: %w", method, err))
	}
	c.body = body
	if header != nil {
		c.addHeaders(header)
	}
	return c
}

// requestArgs reads the optional arguments of a request: at most one body
// (string or []byte) and any number of header sets (H, map[string]string,
// http.Header, of which the first value of each counts).
func requestArgs(args []any) (body []byte, header H, err error) {
	bodies := 0
	add := func(k, v string) {
		if header == nil {
			header = H{}
		}
		header[k] = v
	}
	for _, a := range args {
		switch a := a.(type) {
		case nil:
		case string:
			body = []byte(a)
			bodies++
		case []byte:
			body = a
			bodies++
		case H:
			for k, v := range a {
				add(k, v)
			}
		case map[string]string:
			for k, v := range a {
				add(k, v)
			}
		case http.Header:
			for k, vs := range a {
				if len(vs) > 0 {
					add(k, vs[0])
				}
			}
		default:
			return nil, nil, fmt.Errorf("argument of type %T: want a body (string or []byte) or headers (H)", a)
		}
	}
	if bodies > 1 {
		return nil, nil, fmt.Errorf("%d bodies given, want at most one", bodies)
	}
	return body, header, nil
}

func (c *Check) addHeaders(h map[string]string) {
	if c.header == nil {
		c.header = H{}
	}
	for k, v := range h {
		c.header[k] = v
	}
}

func (c *Check) fault(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *Check) add(field fieldKind, name string, ms []any) *Check {
	for _, m := range ms {
		if m == nil {
			c.fault(fmt.Errorf("%s: nil matcher", condition{field: field, name: name}.describe()))
			continue
		}
		if !checkable(m) {
			c.fault(fmt.Errorf("%s: matcher %T (%s) has neither Match(Value) nor a Check(int), Check(string) or Check(any) method",
				condition{field: field, name: name}.describe(), m, expected(m)))
			continue
		}
		c.conds = append(c.conds, condition{field, name, m})
	}
	return c
}

// Status adds conditions on the status code; all must hold.
func (c *Check) Status(matchers ...Matcher[int]) *Check {
	return c.add(fieldStatus, "", anyMatchers(matchers))
}

// Body adds conditions on the body; all must hold.
func (c *Check) Body(matchers ...Matcher[string]) *Check {
	return c.add(fieldBody, "", anyMatchers(matchers))
}

// JSON adds conditions on the field of a JSON body at path, in gjson syntax
// ("role", "entries.0.term", "peers.#"); all must hold. A body that is not
// JSON fails every JSON condition. It takes a matcher of any type, as the
// field may be a string, a number, a list or an object: JSON("term",
// Is(1)), JSON("role", Is("leader")) and a Matcher[string] of your own all
// fit.
func (c *Check) JSON(path string, matchers ...interface{ Expected() string }) *Check {
	return c.add(fieldJSON, path, anyMatchers(matchers))
}

// Header adds conditions on a response header (its values joined by ", ");
// all must hold.
func (c *Check) Header(name string, matchers ...Matcher[string]) *Check {
	return c.add(fieldHeader, http.CanonicalHeaderKey(name), anyMatchers(matchers))
}

func anyMatchers[M any](ms []M) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		// A nil interface element stays a nil any, for add to report.
		if v := any(m); v != nil {
			out[i] = v
		}
	}
	return out
}

// Hint sets the advice shown when the check fails; write it as a concrete
// next step.
func (c *Check) Hint(text string) *Check {
	c.hint = text
	return c
}

// Eventually makes the check retry until it passes or the timeout (default:
// the suite's retry timeout) expires. The first attempt is immediate; the
// next ones follow every poll interval. On timeout the failure is the last
// attempt's.
func (c *Check) Eventually(timeout ...time.Duration) *Check {
	return c.setTiming(engine.TimingEventually, timeout)
}

// Consistently makes the check repeat, every poll interval, for the timeout
// (default: the suite's retry timeout); it fails at the first attempt that
// does not pass.
func (c *Check) Consistently(timeout ...time.Duration) *Check {
	return c.setTiming(engine.TimingConsistently, timeout)
}

func (c *Check) setTiming(t engine.Timing, timeout []time.Duration) *Check {
	c.timing, c.timeout = t, 0
	switch {
	case len(timeout) > 1:
		c.fault(fmt.Errorf("%v: give at most one timeout", t))
	case len(timeout) == 1 && timeout[0] <= 0:
		c.fault(fmt.Errorf("%v: timeout %v must be positive", t, timeout[0]))
	case len(timeout) == 1:
		c.timeout = timeout[0]
	}
	return c
}

// At sets the source position that failures of the check show, for
// example "election.star:42:9". By default it is the Go file and line that
// called Run or Exec.
func (c *Check) At(pos string) *Check {
	c.pos = pos
	return c
}

// String describes the check: "PUT /kv/key on all_nodes()".
func (c *Check) String() string {
	return fmt.Sprintf("%s %s on %s", c.method, c.path, c.sel.short())
}

// Run runs the check and, if it fails, stops the test with an
// *engine.Failure.
func (c *Check) Run() {
	at := site{pos: c.pos}
	if at.pos == "" {
		at = callerSite(1)
	}
	if _, f := c.exec(at); f != nil {
		c.d.stop(f)
	}
}

// Exec runs the check and returns the responses of its last attempt, one
// per selected node in cluster order, and an *engine.Failure if it failed.
// It never panics on a failed check.
func (c *Check) Exec() ([]*engine.Response, error) {
	at := site{pos: c.pos}
	if at.pos == "" {
		at = callerSite(1)
	}
	resps, f := c.exec(at)
	if f != nil {
		return resps, f
	}
	return resps, nil
}

func (c *Check) exec(at site) ([]*engine.Response, *engine.Failure) {
	c.d.built.ran(c)
	if c.err != nil {
		return nil, c.failure(at, env(c.err))
	}
	r := c.d.r
	timeout := c.timeout
	if timeout == 0 {
		timeout = r.cfg.RetryTimeout
	}
	var resps []*engine.Response
	var last *engine.Failure
	attempt := func() error {
		var err error
		resps, last, err = c.attempt(at)
		if err != nil {
			return engine.Permanent(err)
		}
		if last != nil {
			return last
		}
		return nil
	}
	wait := func(elapsed time.Duration, lastErr error) {
		r.rep.Waiting(engine.Wait{
			Test: c.d.test, Pos: at.String(), What: c.String(), Timing: c.timing,
			Elapsed: elapsed, Timeout: timeout, Last: lastErr,
		})
	}
	switch c.timing {
	case engine.TimingEventually:
		switch out, err := r.eventually(timeout, attempt, wait); out {
		case passed:
			return resps, nil
		case timedOut:
			last.Timing, last.Timeout = engine.TimingEventually, timeout
			return resps, last
		default:
			return resps, c.stopped(at, err)
		}
	case engine.TimingConsistently:
		switch out, held, err := r.consistently(timeout, attempt, wait); out {
		case passed:
			return resps, nil
		case timedOut:
			last.Timing, last.Timeout, last.Held = engine.TimingConsistently, timeout, held
			return resps, last
		default:
			return resps, c.stopped(at, err)
		}
	}
	resps, last, err := c.attempt(at)
	switch {
	case err != nil:
		return resps, c.stopped(at, err)
	case last != nil:
		return resps, last
	}
	return resps, nil
}

// stopped is the failure of a check cut short by a permanent error or
// cancellation.
func (c *Check) stopped(at site, err error) *engine.Failure {
	if f, ok := err.(*engine.Failure); ok {
		return f
	}
	return c.failure(at, err)
}

func (c *Check) failure(at site, err error) *engine.Failure {
	return &engine.Failure{Test: c.d.test, Pos: at.String(), What: c.String(), Hint: c.hint, Err: err}
}

// attempt sends the requests once and judges the answers. It returns a
// failure if the check did not pass, and an error if it cannot be tried at
// all (an unknown node).
func (c *Check) attempt(at site) ([]*engine.Response, *engine.Failure, error) {
	r := c.d.r
	names, err := r.resolve(c.sel)
	if err != nil {
		return nil, nil, c.failure(at, err)
	}
	resps := make([]*engine.Response, len(names))
	if len(names) == 1 {
		resps[0] = r.send(r.ctx, c.d, names[0], c.method, c.path, c.body, c.header)
	} else {
		var wg sync.WaitGroup
		for i, n := range names {
			wg.Go(func() { resps[i] = r.send(r.ctx, c.d, n, c.method, c.path, c.body, c.header) })
		}
		wg.Wait()
	}
	reports := make([]engine.NodeReport, len(resps))
	passedBy := make([]bool, len(resps))
	for i, resp := range resps {
		problems := c.judge(resp)
		passedBy[i] = resp.Err == nil && len(problems) == 0
		reports[i] = engine.NodeReport{Response: resp, Passed: passedBy[i], Problems: problems}
	}
	ok, problem := c.sel.judge(names, passedBy)
	if ok {
		return resps, nil, nil
	}
	if err := r.ctx.Err(); err != nil {
		return resps, nil, r.interrupted(err)
	}
	tooMany := c.sel.kind == selectExactlyOne && slices.Contains(passedBy, true)
	return resps, &engine.Failure{
		Test: c.d.test, Pos: at.String(), What: c.String(), Problem: problem,
		Nodes: reports, Hint: c.hint, TooMany: tooMany,
	}, nil
}

// judge returns what the response got wrong, one line per unmet condition.
func (c *Check) judge(resp *engine.Response) []string {
	if resp.Err != nil {
		return nil
	}
	var problems []string
	jsonChecked, isJSON := false, false
	for _, cond := range c.conds {
		var v engine.Value
		switch cond.field {
		case fieldStatus:
			v = engine.StatusValue(resp.Status)
		case fieldBody:
			v = engine.TextValue(resp.Body)
		case fieldHeader:
			vals := resp.Header.Values(cond.name)
			if len(vals) == 0 {
				v = engine.Value{Missing: true}
			} else {
				v = engine.TextValue(strings.Join(vals, ", "))
			}
		case fieldJSON:
			if !jsonChecked {
				jsonChecked, isJSON = true, gjson.Valid(resp.Body)
			}
			if !isJSON {
				problems = append(problems, fmt.Sprintf("expected %s %s, but the body is not JSON",
					cond.describe(), expected(cond.m)))
				continue
			}
			v = engine.JSONValue(gjson.Get(resp.Body, cond.name))
		}
		if ok, why := match(cond.m, v); !ok {
			p := fmt.Sprintf("expected %s %s, got %s", cond.describe(), expected(cond.m), v)
			if why != "" {
				p += " (" + why + ")"
			}
			problems = append(problems, p)
		}
	}
	return problems
}

// builtChecks are the checks a test built that have not run yet: a check
// that never runs sends nothing and checks nothing, so a test that ends
// with one has a mistake, not a pass.
type builtChecks struct {
	mu    sync.Mutex // guards unrun and seq
	unrun map[*Check]builtAt
	seq   int
}

type builtAt struct {
	seq int
	at  site
}

func (b *builtChecks) add(c *Check, at site) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unrun == nil {
		b.unrun = map[*Check]builtAt{}
	}
	b.seq++
	b.unrun[c] = builtAt{b.seq, at}
}

func (b *builtChecks) ran(c *Check) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.unrun, c)
}

// failure is the error of test when it built a check it never ran: the
// first such check's position, as an error of the suite, not the target's.
func (b *builtChecks) failure(test string) *engine.Failure {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.unrun) == 0 {
		return nil
	}
	var first *Check
	for c, at := range b.unrun {
		if first == nil || at.seq < b.unrun[first].seq {
			first = c
		}
	}
	msg := fmt.Sprintf("%s is built and never run, so it sends nothing and checks nothing: add .Run() or .Exec()", first)
	if n := len(b.unrun); n > 1 {
		msg += fmt.Sprintf(" (%d checks of the test never ran)", n)
	}
	return &engine.Failure{Test: test, Pos: b.unrun[first].at.String(), Err: env(errors.New(msg))}
}
