// Package nodehttp serves the endpoints that clstr's two test targets
// answer alike: the testnode program that Docker tests run
// (internal/testkit/testnode) and starlarktest's in-process nodes, so that
// a check of /echo, /status or /redirect means the same against either.
package nodehttp

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Route adds the shared endpoints to mux; node is what /echo names as the
// node that answered.
//
//	ANY /echo            {"method", "body", "headers", "node"}
//	GET /status/{code}   answers with that status and "status <code>"
//	GET /redirect        307 to /echo
func Route(mux *http.ServeMux, node string) {
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		headers := map[string]string{}
		for k := range r.Header {
			headers[k] = r.Header.Get(k)
		}
		WriteJSON(w, map[string]any{"method": r.Method, "body": string(body), "headers": headers, "node": node})
	})
	mux.HandleFunc("GET /status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 100 || code > 999 {
			http.Error(w, "bad status code", http.StatusBadRequest)
			return
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
	})
}

// WriteJSON answers v as JSON.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
