package starlark

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/clstr-dev/clstr/attest/history"
	"github.com/clstr-dev/clstr/internal/suggest"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Vet checks the script at path and every module it loads as Load does
// before a cluster starts, and more, for editors and for the CI of a
// repository of stages. It parses and resolves every file; it checks that
// each load names what its module defines; it reports an attribute no
// value of clstr's or of Starlark's has (.eventualy), which can only be a
// typo; and every statement that builds a check and throws it away
// without running it, such as get("n1", "/health").status(200) without
// .run(): it would send nothing and check nothing. A script that calls
// suite() or test() at its top level is a stage: its top level then runs,
// sandboxed under the default limits, as clstr run runs it, so that
// suite() twice or with a wrong argument, and a stage that registers no
// test, are reported too. A module that calls neither runs nothing. Its
// errors are those of Load: each starts with file:line:col, several
// joined.
func Vet(path string, opts Options) error {
	b, err := Compile(path, CompileOptions{Stdlib: opts.Stdlib, Root: opts.Root, Predeclared: opts.environment().Has, Sandbox: opts.Sandbox != nil})
	if err != nil {
		return compileError(err)
	}
	var errs []error
	known := knownAttrs()
	for _, name := range slices.Sorted(maps.Keys(b.byName)) {
		m := b.byName[name]
		for _, l := range m.notes.loads {
			dep := b.modules[m.loads[l.module]]
			if dep == nil {
				continue
			}
			for _, id := range l.names {
				if !dep.notes.globals[id.Name] {
					errs = append(errs, &Error{Pos: id.NamePos.String(), Msg: fmt.Sprintf("load of %s: it defines no %s%s", l.module, id.Name, nearest(id.Name, slices.Collect(maps.Keys(dep.notes.globals))))})
				}
			}
		}
		for _, a := range m.notes.attrs {
			if !known[a.Name] {
				errs = append(errs, &Error{Pos: a.NamePos.String(), Msg: fmt.Sprintf("no value has an attribute %s%s: a typo?", a.Name, nearest(a.Name, slices.Collect(maps.Keys(known))))})
			}
		}
		for _, u := range m.notes.unrun {
			errs = append(errs, &Error{Pos: u.pos.String(), Msg: fmt.Sprintf("%s builds a check and never runs it, so it sends nothing and checks nothing: add .run()", u.what)})
		}
	}
	if main := b.modules[b.main]; len(errs) == 0 && main != nil && main.notes.stage {
		lim := opts.Sandbox
		if lim == nil {
			d := DefaultLimits()
			lim = &d
		}
		if _, err := b.load(Options{Stdlib: opts.Stdlib, Root: opts.Root, Sandbox: lim}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// nearest returns " (did you mean X?)" for the name of names nearest to
// name, if one is near enough to be what a typo meant, or "".
func nearest(name string, names []string) string {
	slices.Sort(names)
	best, bestDist := "", len(name)/3+1
	for _, n := range names {
		if d := suggest.Distance(name, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" || best == name {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// knownAttrs are the names of every attribute a value of a script can
// have: those of clstr's values (checks, responses, histories, their
// operations and events, traffic, what check_set returns, the members of
// modules such as rand and json) and of Starlark's own (strings, bytes,
// lists, dicts, sets).
var knownAttrs = sync.OnceValue(func() map[string]bool {
	known := map[string]bool{}
	set := setResultStruct(history.SetResult{})
	latency, _ := set.Attr("latency")
	for _, v := range []starlark.HasAttrs{
		&check{}, &response{}, &historyValue{}, &opValue{}, &trafficValue{}, set, latency.(starlark.HasAttrs),
		starlark.String(""), starlark.Bytes(""), starlark.NewList(nil), starlark.NewDict(0), starlark.NewSet(0),
	} {
		for _, n := range v.AttrNames() {
			known[n] = true
		}
	}
	for _, n := range []string{"time", "node", "text", "test"} { // a history's events
		known[n] = true
	}
	for _, v := range predeclared {
		if m, ok := v.(starlark.HasAttrs); ok {
			for _, n := range m.AttrNames() {
				known[n] = true
			}
		}
	}
	return known
})

// posKey is a position of a file as a map key.
type posKey struct {
	line, col int32
}

// notes is what a module's syntax says about the values its statements
// throw away, found when it is compiled.
type notes struct {
	// discarded holds the positions (of the opening parenthesis) of the
	// calls whose value a statement throws away: a call that is an
	// expression statement, either branch of a conditional expression
	// that is one, the element of a list comprehension that is one. A
	// check made by such a call can never run.
	discarded map[posKey]bool
	// unrun are the expression statements that build a check with
	// get(…), put(…), post(…), delete(…) or patch(…) and its modifiers,
	// and do not run it.
	unrun []unrunCheck
	// attrs are the attribute names the module uses (x.name).
	attrs []*syntax.Ident
	// loads are its load statements; globals the names it defines.
	loads   []loadUse
	globals map[string]bool
	// stage is set when its top level calls suite() or test().
	stage bool
}

// loadUse is a load statement: the module as written, and the names it
// takes from it.
type loadUse struct {
	module string
	names  []*syntax.Ident
}

type unrunCheck struct {
	pos  syntax.Position // of the last call's opening parenthesis
	what string          // "get(…).status(…)"
}

// requestBuiltins make checks; checkModifiers make a new check of one.
var (
	requestBuiltins = []string{"get", "put", "post", "delete", "patch"}
	checkModifiers  = []string{"status", "body", "json", "header", "hint", "eventually", "consistently"}
)

// inspect finds the notes of a resolved file.
func inspect(f *syntax.File) notes {
	n := notes{discarded: map[posKey]bool{}}
	var mark func(e syntax.Expr)
	mark = func(e syntax.Expr) {
		switch e := e.(type) {
		case *syntax.ParenExpr:
			mark(e.X)
		case *syntax.CondExpr:
			mark(e.True)
			mark(e.False)
		case *syntax.Comprehension:
			if !e.Curly {
				mark(e.Body)
			}
		case *syntax.CallExpr:
			n.discarded[posKey{e.Lparen.Line, e.Lparen.Col}] = true
			if what, ok := buildsCheck(e); ok {
				n.unrun = append(n.unrun, unrunCheck{e.Lparen, what})
			}
		}
	}
	syntax.Walk(f, func(node syntax.Node) bool {
		switch node := node.(type) {
		case *syntax.ExprStmt:
			mark(node.X)
		case *syntax.DotExpr:
			n.attrs = append(n.attrs, node.Name)
		case *syntax.LoadStmt:
			n.loads = append(n.loads, loadUse{module: node.ModuleName(), names: node.From})
		}
		return true
	})
	n.globals = map[string]bool{}
	if m, ok := f.Module.(*resolve.Module); ok {
		for _, g := range m.Globals {
			n.globals[g.First.Name] = true
		}
	}
	for _, st := range f.Stmts {
		if e, ok := st.(*syntax.ExprStmt); ok {
			if call, ok := e.X.(*syntax.CallExpr); ok {
				if id, ok := call.Fn.(*syntax.Ident); ok && (id.Name == "suite" || id.Name == "test") {
					n.stage = true
				}
			}
		}
	}
	return n
}

// buildsCheck reports whether e is a chain that certainly makes a check: a
// call of a request builtin (not a name the script defines itself),
// followed by any number of modifiers. It returns the chain as the message
// shows it, "get(…).status(…)".
func buildsCheck(e syntax.Expr) (string, bool) {
	call, ok := e.(*syntax.CallExpr)
	if !ok {
		return "", false
	}
	switch fn := call.Fn.(type) {
	case *syntax.Ident:
		b, _ := fn.Binding.(*resolve.Binding)
		if b == nil || b.Scope != resolve.Predeclared || !slices.Contains(requestBuiltins, fn.Name) {
			return "", false
		}
		return fn.Name + "(…)", true
	case *syntax.DotExpr:
		if !slices.Contains(checkModifiers, fn.Name.Name) {
			return "", false
		}
		inner, ok := buildsCheck(fn.X)
		if !ok {
			return "", false
		}
		return inner + "." + fn.Name.Name + "(…)", true
	}
	return "", false
}

// discardedAt reports whether the call at pos is one whose value a
// statement throws away (see notes.discarded).
func (b *Bundle) discardedAt(pos syntax.Position) bool {
	m := b.byName[pos.Filename()]
	return m != nil && m.notes.discarded[posKey{pos.Line, pos.Col}]
}

// unrunLimit bounds the positions a test keeps of checks it never ran.
const unrunLimit = 10

// unrunError is the error of a test that built checks and threw them away
// at the given positions (the first few of total).
func unrunError(positions []string, total int) *Error {
	msg := "this check is built and never run, so it sends nothing and checks nothing: add .run()"
	if total > 1 {
		more := strings.Join(positions[1:], ", ")
		if total > len(positions) {
			more += fmt.Sprintf(" and %d more", total-len(positions))
		}
		msg += " (so are those at " + more + ")"
	}
	return &Error{Pos: positions[0], Msg: msg}
}
