package main

import (
	"errors"
	"io"
	"log"
	"net/http"
	"strings"
)

// maxValueSize bounds a request body; the contract asks for at least 1 MiB.
const maxValueSize = 16 << 20

// NewHandler serves the kv-store contract from s:
//
//	PUT    /kv/{key}  body = value  200; 400 key cannot be empty; 400 value cannot be empty
//	GET    /kv/{key}                200 body = value; 404 key not found; 400 key cannot be empty
//	DELETE /kv/{key}                200 whether or not the key existed; 400 key cannot be empty
//	DELETE /clear                   200
//	GET    /health                  200
//
// Any other method on these paths gets 405 method not allowed; other paths
// 404 not found. Every answer is text/plain. bug plants one of the bugs of
// README.md, or is empty.
func NewHandler(s *Store, bug string) http.Handler {
	return &handler{store: s, bug: bug}
}

type handler struct {
	store *Store
	bug   string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	path := r.URL.Path
	switch {
	case path == "/health":
		if h.allow(w, r, http.MethodGet) {
			io.WriteString(w, "OK\n")
		}
	case path == "/clear":
		if h.allow(w, r, http.MethodDelete) {
			h.answer(w, h.store.Clear())
		}
	case path == "/kv" || strings.HasPrefix(path, "/kv/"):
		if h.allow(w, r, http.MethodGet, http.MethodPut, http.MethodDelete) {
			h.serveKey(w, r, strings.TrimPrefix(strings.TrimPrefix(path, "/kv"), "/"))
		}
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// allow reports whether r's method is one of methods, answering 405 if
// not. Under the no-405 bug other methods are answered 200 and ignored.
func (h *handler) allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	if h.bug == bugNo405 {
		w.WriteHeader(http.StatusOK)
		return false
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func (h *handler) serveKey(w http.ResponseWriter, r *http.Request, key string) {
	if key == "" {
		http.Error(w, "key cannot be empty", http.StatusBadRequest)
		return
	}
	if h.bug == bugCaseFold {
		key = strings.ToLower(key)
	}
	switch r.Method {
	case http.MethodGet:
		v, ok := h.store.Get(key)
		if !ok {
			http.Error(w, "key not found", http.StatusNotFound)
			return
		}
		if h.bug == bugOctetStream {
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		io.WriteString(w, v)
	case http.MethodPut:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValueSize))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, "value too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) == 0 && h.bug != bugEmptyValue {
			http.Error(w, "value cannot be empty", http.StatusBadRequest)
			return
		}
		h.answer(w, h.store.Put(key, string(body)))
	case http.MethodDelete:
		if h.bug == bugDeleteMissing404 {
			if _, ok := h.store.Get(key); !ok {
				http.Error(w, "key not found", http.StatusNotFound)
				return
			}
		}
		h.answer(w, h.store.Delete(key))
	}
}

// answer reports the outcome of a write: 200, or 500 when it could not be
// made durable (it was not applied then).
func (h *handler) answer(w http.ResponseWriter, err error) {
	if err != nil {
		log.Printf("write failed: %v", err)
		http.Error(w, "write failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}
