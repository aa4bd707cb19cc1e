package history

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// KV is the model of the kv-store contract: PUT /kv/{key} sets the key to
// the body, GET /kv/{key} reads it (200 and the value, or 404 when the key
// is absent), DELETE /kv/{key} removes it and DELETE /clear removes every
// key. Keys are independent, so a history is checked key by key unless it
// has a clear. Other paths and methods are outside the contract and
// ignored; answers that say a request was not applied (a redirect, a 400)
// are left out, and so is a read whose answer is unknown, since it saw
// nothing. Every write but a GET sets a key whatever it held, so a
// history starts from what the run's earlier writes of its keys left.
func KV() Model {
	return Model{
		Name:          "kv",
		Contract:      inKVContract,
		ContractText:  "GET, PUT and DELETE of /kv/{key}, and DELETE /clear",
		Past:          func(op Op) (string, bool) { return kvKey(op), op.Method != http.MethodGet },
		Keep:          keepKV,
		Partition:     kvKey,
		Simplify:      dropUnseenWrites(kvKey),
		Bound:         boundBySeenValues(kvKey),
		Init:          func() any { return kvState(nil) },
		Step:          stepKV,
		Equal:         func(a, b any) bool { return maps.Equal(a.(kvState), b.(kvState)) },
		Hash:          hashKV,
		DescribeState: describeKV,
		Source: func(read, write Op) bool {
			return wroteSeen(read, write) && kvKey(read) == kvKey(write)
		},
	}
}

// Register is the model of one register: any PUT or POST writes the body,
// any DELETE empties it, any GET reads it (200 and the value, or 404 while
// it is empty). The path does not matter within a history; a history
// starts from what the run's earlier writes of its paths left.
func Register() Model {
	whole := func(Op) string { return "" }
	return Model{
		Name: "register",
		Contract: func(op Op) bool {
			switch op.Method {
			case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete:
				return true
			}
			return false
		},
		ContractText: "GET, PUT, POST and DELETE of any path",
		Past:         func(op Op) (string, bool) { return op.Path, op.Method != http.MethodGet },
		Keep: func(op Op) bool {
			switch op.Method {
			case http.MethodGet:
				return readSaw(op)
			case http.MethodPut, http.MethodPost, http.MethodDelete:
				return op.Outcome != Fail
			}
			return false
		},
		Simplify: dropUnseenWrites(whole),
		Bound:    boundBySeenValues(whole),
		Init:     func() any { return regState{} },
		Step: func(state any, op Op) (bool, any) {
			s := state.(regState)
			switch op.Method {
			case http.MethodGet:
				return s == readOf(op), s
			case http.MethodDelete:
				return true, regState{}
			}
			return true, regState{v: op.Body, set: true}
		},
		DescribeState: func(state any) string {
			if s := state.(regState); s.set {
				return fmt.Sprintf("%q", s.v)
			}
			return "(nothing written)"
		},
		Source: wroteSeen,
	}
}

// Models returns the built-in models by name.
func Models() map[string]func() Model {
	return map[string]func() Model{"kv": KV, "register": Register}
}

// regState is a register's value, or that nothing was written.
type regState struct {
	v   string
	set bool
}

// readOf is what a read saw: the body of a 200, or nothing for a 404.
func readOf(op Op) regState {
	if op.Status == http.StatusNotFound {
		return regState{}
	}
	return regState{v: op.Response, set: true}
}

// wroteSeen says whether write wrote the value that read saw.
func wroteSeen(read, write Op) bool {
	return read.Method == http.MethodGet && read.Status == http.StatusOK &&
		(write.Method == http.MethodPut || write.Method == http.MethodPost) && write.Body == read.Response
}

// readSaw says whether a GET tells something about the state: a 200 or a
// 404 does; a redirect, an error or no answer does not.
func readSaw(op Op) bool {
	return op.Status == http.StatusOK || op.Status == http.StatusNotFound
}

// kvState maps keys to values; a step returns a new map and never changes
// the one it was given.
type kvState map[string]string

func kvKey(op Op) string {
	if op.Path == "/clear" {
		return AllKeys
	}
	return strings.TrimPrefix(op.Path, "/kv/")
}

// inKVContract says whether op is a request the kv contract describes,
// whatever came of it.
func inKVContract(op Op) bool {
	switch {
	case op.Path == "/clear":
		return op.Method == http.MethodDelete
	case !strings.HasPrefix(op.Path, "/kv/") || len(op.Path) == len("/kv/"):
		return false
	}
	switch op.Method {
	case http.MethodGet, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func keepKV(op Op) bool {
	switch {
	case !inKVContract(op):
		return false
	case op.Method == http.MethodGet:
		return readSaw(op)
	}
	return op.Outcome != Fail
}

func stepKV(state any, op Op) (bool, any) {
	s := state.(kvState)
	key := kvKey(op)
	switch {
	case key == AllKeys:
		return true, kvState(nil)
	case op.Method == http.MethodGet:
		v, ok := s[key]
		r := readOf(op)
		return ok == r.set && v == r.v, s
	case op.Method == http.MethodDelete:
		if _, ok := s[key]; !ok {
			return true, s
		}
		next := maps.Clone(s)
		delete(next, key)
		return true, next
	}
	next := make(kvState, len(s)+1)
	maps.Copy(next, s)
	next[key] = op.Body
	return true, next
}

func hashKV(state any) uint64 {
	s := state.(kvState)
	h := fnv.New64a()
	for _, k := range slices.Sorted(maps.Keys(s)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(s[k]))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func describeKV(state any) string {
	s := state.(kvState)
	if len(s) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(s))
	for _, k := range slices.Sorted(maps.Keys(s)) {
		parts = append(parts, fmt.Sprintf("%s: %q", k, s[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// dropUnseenWrites drops the unknown writes whose value no read of the same
// key saw. Such a write cannot explain any read, so the history is
// linearizable with it (taking effect at the very end) exactly when it is
// without it; leaving it out spares the search its every placement.
func dropUnseenWrites(key func(Op) string) func([]Op) []Op {
	return func(ops []Op) []Op {
		seen := map[[2]string]bool{}
		for _, op := range ops {
			if op.Method == http.MethodGet && op.Status == http.StatusOK {
				seen[[2]string{key(op), op.Response}] = true
			}
		}
		return slices.DeleteFunc(slices.Clone(ops), func(op Op) bool {
			write := op.Method == http.MethodPut || op.Method == http.MethodPost
			return write && op.Outcome == Unknown && !seen[[2]string{key(op), op.Body}]
		})
	}
}

// boundBySeenValues bounds each unknown write whose value no other write
// of the key wrote and some read saw: it took effect before the first of
// those reads completed. With the value unique the read could have seen
// no other write, so every order the open write allows, the bounded one
// allows too.
func boundBySeenValues(key func(Op) string) func([]Op) map[int]time.Duration {
	return func(ops []Op) map[int]time.Duration {
		writers := map[[2]string]int{}
		firstSeen := map[[2]string]time.Duration{}
		for _, op := range ops {
			switch {
			case op.Method == http.MethodPut || op.Method == http.MethodPost:
				writers[[2]string{key(op), op.Body}]++
			case op.Method == http.MethodGet && op.Status == http.StatusOK:
				k := [2]string{key(op), op.Response}
				if t, ok := firstSeen[k]; !ok || op.Complete < t {
					firstSeen[k] = op.Complete
				}
			}
		}
		bounds := map[int]time.Duration{}
		for i, op := range ops {
			k := [2]string{key(op), op.Body}
			write := op.Method == http.MethodPut || op.Method == http.MethodPost
			if t, seen := firstSeen[k]; write && op.Outcome == Unknown && seen && writers[k] == 1 {
				bounds[i] = max(t, op.Invoke)
			}
		}
		return bounds
	}
}
