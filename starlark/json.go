package starlark

import (
	"fmt"

	starlarkjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"
)

// libJSON is a member of go.starlark.net's json module as scripts get it:
// called as it is, but refusing a value or a text nested deeper than
// maxJSONDepth, which the module would follow down the runner's stack.
func libJSON(name string) builtinFunc {
	fn := starlarkjson.Module.Members[name].(*starlark.Builtin)
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) > 0 {
			var deep bool
			switch name {
			case "decode", "indent":
				if s, ok := starlark.AsString(args[0]); ok {
					deep = textDepth(s) > maxJSONDepth
				}
			default:
				deep = !shallow(args[0], maxJSONDepth)
			}
			if deep {
				return nil, fmt.Errorf("%s: a value nested more than %d deep (or that contains itself) is refused", b.Name(), maxJSONDepth)
			}
		}
		return fn.CallInternal(thread, args, kwargs)
	}
}

// textDepth is how deep the arrays and objects of JSON text s nest, not
// counting brackets inside strings.
func textDepth(s string) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// shallow says whether v nests at most left levels of lists, tuples,
// dicts and structs; a value that contains itself never is.
func shallow(v starlark.Value, left int) bool {
	if left < 0 {
		return false
	}
	switch v := v.(type) {
	case starlark.String, starlark.Int, starlark.Float, starlark.Bool, starlark.NoneType:
		return true
	case starlark.IterableMapping:
		for _, kv := range v.Items() {
			if !shallow(kv[1], left-1) {
				return false
			}
		}
	case starlark.Iterable:
		it := v.Iterate()
		defer it.Done()
		var e starlark.Value
		for it.Next(&e) {
			if !shallow(e, left-1) {
				return false
			}
		}
	case starlark.HasAttrs:
		for _, name := range v.AttrNames() {
			a, err := v.Attr(name)
			if err == nil && a != nil && !shallow(a, left-1) {
				return false
			}
		}
	}
	return true
}
