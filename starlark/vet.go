package starlark

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/syntax"
)

// Vet parses and resolves the script at path and every module it loads,
// as Load does first, but runs nothing: not even the top level, so it
// works as well on a module that registers no test. It is for editors and
// for the CI of a repository of stages. Its errors are those of Load: each
// starts with file:line:col, several joined for a file with several
// resolve errors. On top of them it reports every statement that builds a
// check and throws it away without running it, such as
// get("n1", "/health").status(200) without .run(): it would send nothing
// and check nothing.
func Vet(path string, opts Options) error {
	b, err := Compile(path, CompileOptions{Stdlib: opts.Stdlib, Root: opts.Root, Predeclared: opts.environment().Has, Sandbox: opts.Sandbox != nil})
	if err != nil {
		return compileError(err)
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(b.byName)) {
		for _, u := range b.byName[name].notes.unrun {
			errs = append(errs, &Error{Pos: u.pos.String(), Msg: fmt.Sprintf("%s builds a check and never runs it, so it sends nothing and checks nothing: add .run()", u.what)})
		}
	}
	return errors.Join(errs...)
}

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
		if s, ok := node.(*syntax.ExprStmt); ok {
			mark(s.X)
		}
		return true
	})
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
