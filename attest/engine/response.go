package engine

import (
	"net/http"
	"time"

	"github.com/tidwall/gjson"
)

// Response is one node's answer to a request.
type Response struct {
	// Node is the node the request went to.
	Node string
	// Method and URL are the request's.
	Method string
	URL    string
	// Status is the response status code, 0 if there was no response.
	Status int
	Header http.Header
	Body   string
	// Err says why there was no response: the node is down, did not
	// answer within the request timeout, …
	Err error
	// Duration is how long the request took.
	Duration time.Duration
}

// JSON returns the field at the gjson path of a JSON body as text (a
// string's contents, a number's digits), or "" if there is no such field.
func (r *Response) JSON(path string) string {
	return gjson.Get(r.Body, path).String()
}
