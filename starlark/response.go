package starlark

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"go.starlark.net/starlark"

	"github.com/clstr-dev/clstr/attest/engine"
)

// response is the Starlark value of a node's answer, as check.run() and
// fetch() return it. It is immutable.
type response struct {
	r    *engine.Response
	path string
}

var (
	_ starlark.Value    = (*response)(nil)
	_ starlark.HasAttrs = (*response)(nil)
)

func newResponse(r *engine.Response, path string) *response {
	return &response{r: r, path: path}
}

// headerDict returns the headers as a frozen dict, made when a script asks.
func (r *response) headerDict() *starlark.Dict {
	h := starlark.NewDict(len(r.r.Header))
	keys := make([]string, 0, len(r.r.Header))
	for k := range r.r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.SetKey(starlark.String(k), starlark.String(strings.Join(r.r.Header.Values(k), ", ")))
	}
	h.Freeze()
	return h
}

func (r *response) String() string {
	if r.r.Err != nil {
		return fmt.Sprintf("<response %s %s from %s: no answer>", r.r.Method, r.path, r.r.Node)
	}
	return fmt.Sprintf("<response %s %s from %s: %d>", r.r.Method, r.path, r.r.Node, r.r.Status)
}
func (r *response) Type() string         { return "response" }
func (r *response) Freeze()              {}
func (r *response) Truth() starlark.Bool { return starlark.True }
func (r *response) Hash() (uint32, error) {
	return 0, fmt.Errorf("unhashable type: response")
}

// responseAttrs are a response's fields and methods, as the reference
// documents them.
var responseAttrs = []Builtin{
	{Name: "node", Signature: "response.node", Summary: "the name of the node that answered"},
	{Name: "status", Signature: "response.status", Summary: "the status code; 0 if the node did not answer"},
	{Name: "body", Signature: "response.body", Summary: "the body as a string"},
	{Name: "headers", Signature: "response.headers", Summary: "the headers, a dict from canonical name to the values joined by \", \""},
	{Name: "url", Signature: "response.url", Summary: "the URL the request went to"},
	{Name: "error", Signature: "response.error", Summary: "why there was no answer, or None"},
	{Name: "header", Signature: "response.header(name)", Summary: "one header's values joined by \", \", in any case; None if absent"},
	{Name: "json", Signature: `response.json(path="", type=None)`, Summary: "the JSON field at a gjson path (the whole body for \"\") as a Starlark value; None if absent; with type, a field of another type fails the target"},
}

func (r *response) AttrNames() []string { return attrNames(responseAttrs) }

func (r *response) Attr(name string) (starlark.Value, error) {
	switch name {
	case "node":
		return starlark.String(r.r.Node), nil
	case "status":
		return starlark.MakeInt(r.r.Status), nil
	case "body":
		return starlark.String(r.r.Body), nil
	case "headers":
		return r.headerDict(), nil
	case "url":
		return starlark.String(r.r.URL), nil
	case "error":
		if r.r.Err == nil {
			return starlark.None, nil
		}
		return starlark.String(r.r.Err.Error()), nil
	case "header":
		return starlark.NewBuiltin("header", r.header).BindReceiver(r), nil
	case "json":
		return starlark.NewBuiltin("json", r.json).BindReceiver(r), nil
	}
	return nil, nil
}

func (r *response) header(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
		return nil, err
	}
	vals := r.r.Header.Values(http.CanonicalHeaderKey(name))
	if len(vals) == 0 {
		return starlark.None, nil
	}
	return starlark.String(strings.Join(vals, ", ")), nil
}

func (r *response) json(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	path := ""
	var want starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path?", &path, "type?", &want); err != nil {
		return nil, err
	}
	types, err := jsonTypes(want)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	if !gjson.Valid(r.r.Body) {
		// The target's answer is at fault, not the script: a failure.
		return nil, r.failure(thread, fmt.Sprintf("json(%q): the body is not JSON", path), "expected a JSON body")
	}
	var res gjson.Result
	if path == "" {
		res = gjson.Parse(r.r.Body)
	} else {
		res = gjson.Get(r.r.Body, path)
	}
	v := starlark.Value(starlark.None)
	if res.Exists() {
		v = fromJSON(res)
	}
	if types != nil && (!res.Exists() || !slices.Contains(types, v.Type())) {
		// The script asked for a shape; an answer of another shape is the
		// target's, caught here before the script computes with it. A
		// field that is absent has no type, not even null's.
		got := "missing"
		if res.Exists() {
			got = fmt.Sprintf("%s (a %s)", clip(res.Raw, 60), v.Type())
		}
		return nil, r.failure(thread,
			fmt.Sprintf("json(%q): the field is %s, expected %s", path, got, strings.Join(types, " or ")),
			fmt.Sprintf("expected %q to be %s", path, strings.Join(types, " or ")))
	}
	return v, nil
}

// clip shortens s to at most max bytes, marking the cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max] + "…"
}

// jsonTypes reads json()'s type argument: None, a type name as type()
// gives it ("int", "string", "NoneType", …) or a list or tuple of them.
func jsonTypes(v starlark.Value) ([]string, error) {
	var names []string
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.String:
		names = []string{string(v)}
	case starlark.Indexable:
		for i := range v.Len() {
			s, ok := v.Index(i).(starlark.String)
			if !ok {
				return nil, fmt.Errorf("type: got %s in the list, want a type name such as \"int\"", v.Index(i).Type())
			}
			names = append(names, string(s))
		}
	default:
		return nil, fmt.Errorf("type: got %s, want a type name such as \"int\" or a list of them", v.Type())
	}
	for _, n := range names {
		if !slices.Contains(jsonTypeNames, n) {
			return nil, fmt.Errorf("type: %q is not a type a JSON value has here; use one of %s", n, strings.Join(jsonTypeNames, ", "))
		}
	}
	return names, nil
}

// jsonTypeNames are the types fromJSON gives, as type() names them.
var jsonTypeNames = []string{"NoneType", "bool", "int", "float", "string", "list", "dict"}

// failure is the target's failure of this answer, found at the calling
// script line.
func (r *response) failure(thread *starlark.Thread, problem, nodeProblem string) *engine.Failure {
	f := &engine.Failure{
		Pos:     callerPos(thread),
		What:    fmt.Sprintf("%s %s on %s", r.r.Method, r.path, r.r.Node),
		Problem: problem,
		Nodes:   []engine.NodeReport{{Response: r.r, Problems: []string{nodeProblem}}},
	}
	if ts := testOf(thread); ts != nil {
		f.Test = ts.do.Test()
	}
	return f
}

// fromJSON converts a JSON value to Starlark: null to None, numbers to int
// or float (as written), strings, bools, arrays to lists and objects to
// dicts in the order of their keys.
func fromJSON(r gjson.Result) starlark.Value {
	switch r.Type {
	case gjson.Null:
		return starlark.None
	case gjson.False:
		return starlark.False
	case gjson.True:
		return starlark.True
	case gjson.String:
		return starlark.String(r.Str)
	case gjson.Number:
		raw := strings.TrimSpace(r.Raw)
		if !strings.ContainsAny(raw, ".eE") {
			if i, ok := new(big.Int).SetString(raw, 10); ok {
				return starlark.MakeBigInt(i)
			}
		}
		return starlark.Float(r.Num)
	}
	if r.IsArray() {
		arr := r.Array()
		vs := make([]starlark.Value, len(arr))
		for i, e := range arr {
			vs[i] = fromJSON(e)
		}
		return starlark.NewList(vs)
	}
	d := starlark.NewDict(0)
	r.ForEach(func(k, v gjson.Result) bool {
		d.SetKey(starlark.String(k.String()), fromJSON(v))
		return true
	})
	return d
}

// toGo converts a Starlark value to what encoding/json encodes: nil, bool,
// json.Number, string, []any and map[string]any.
func toGo(v starlark.Value) (any, error) { return toGoDepth(v, 0) }

// maxJSONDepth bounds the nesting of a value written as JSON: deeper
// values would take the runner's stack, not the reader's patience.
const maxJSONDepth = 1000

func toGoDepth(v starlark.Value, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("a value nested more than %d deep cannot be written as JSON", maxJSONDepth)
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		return json.Number(v.String()), nil
	case starlark.Float:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v cannot be written as JSON", v)
		}
		return json.Number(fmt.Sprint(f)), nil
	case starlark.String:
		return string(v), nil
	case starlark.Indexable: // list, tuple
		out := make([]any, v.Len())
		for i := range out {
			e, err := toGoDepth(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case *starlark.Dict:
		out := make(map[string]any, v.Len())
		for _, item := range v.Items() {
			k, ok := starlark.AsString(item[0])
			if !ok {
				return nil, fmt.Errorf("a dict key of JSON must be a string, got %s", item[0].Type())
			}
			e, err := toGoDepth(item[1], depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s cannot be written as JSON", v.Type())
}

// builtinFetch is fetch(name, path).
func builtinFetch(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		name    nodeNameArg
		path    string
		method                 = "GET"
		body    starlark.Value = starlark.None
		headers starlark.Value = starlark.None
		timeout durationArg
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "path", &path, "method?", &method, "body?", &body, "headers?", &headers, "timeout?", &timeout); err != nil {
		return nil, err
	}
	req, err := newRequest(thread, b.Name(), path, body, headers)
	if err != nil {
		return nil, err
	}
	if err := guardOf(thread).chargeRequests(1); err != nil {
		return nil, err
	}
	resp, err := testOf(thread).ops(thread).Send(strings.ToUpper(method), name.name, path, req.body, req.header, timeout.d)
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return starlark.None, nil
	}
	return newResponse(resp.Response, path), nil
}

// builtinAddr is addr(name).
func builtinAddr(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name nodeNameArg
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
		return nil, err
	}
	a, err := testOf(thread).ops(thread).Addr(name.name)
	if err != nil {
		return nil, err
	}
	return starlark.String(a), nil
}
