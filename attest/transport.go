package attest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/internal/render"
	"github.com/clstr-dev/clstr/internal/bytesize"
)

// send makes one request to a node and reads the whole answer. When who is
// not nil the request is one of who's: it goes into the history and into
// Concurrently's latency statistics.
func (r *run) send(ctx context.Context, who *Do, node, method, path string, body []byte, header H) *engine.Response {
	resp := &engine.Response{Node: node, Method: method}
	base, err := r.cl.URL(node)
	if err != nil {
		resp.Err = err
		return resp
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	resp.URL = base + path
	if err := sameHost(base, resp.URL); err != nil {
		resp.Err = err
		return resp
	}
	limit := r.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(dl))
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	invoke := r.hist.Now()
	hr, resent, err := r.roundTrip(ctx, method, resp.URL, body, header)
	if err == nil {
		var b []byte
		limit := maxBody(r.cfg)
		b, err = io.ReadAll(io.LimitReader(hr.Body, limit+1))
		hr.Body.Close()
		resp.Status, resp.Header, resp.Body = hr.StatusCode, hr.Header, string(b)
		if err == nil && int64(len(b)) > limit {
			err = fmt.Errorf("body larger than the response size limit of %s", bytesize.Format(limit))
		}
	}
	complete := r.hist.Now()
	resp.Duration = complete - invoke
	if err != nil {
		resp.Err = r.requestError(err, limit)
	}
	if who != nil {
		if !r.unrecorded.Load() {
			who.record(resp, path, body, invoke, complete, resent)
		}
		if rec := r.rec.Load(); rec != nil {
			rec.add(node, resp.Duration, resp.Err != nil)
		}
	}
	return resp
}

// maxBody is the bytes of a response body the engine reads.
func maxBody(c engine.Config) int64 {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return engine.DefaultMaxBody
}

// maxResends bounds how often one request is sent again after a reused
// connection was found closed.
const maxResends = 3

// roundTrip sends one request and returns the node's answer. A keep-alive
// connection that the node closed while it sat idle in the pool (a server's
// idle or header timeout) can be picked for a request in the instant before
// the close arrives: the request is written and the connection ends without
// a byte of answer. The node did not see that request (unless it crashed
// while it handled it), and a correct node must not fail for it, so a request of an idempotent method (RFC 9110: GET,
// HEAD, OPTIONS, PUT, DELETE) that meets a closed reused connection is sent
// again, on another connection, up to maxResends times. Go's transport does
// this on its own for GET, HEAD and OPTIONS only. resent says whether the
// answer is to a repeated request: the history then takes a refusal as an
// unknown outcome.
func (r *run) roundTrip(ctx context.Context, method, url string, body []byte, header H) (hr *http.Response, resent bool, err error) {
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			return nil, false, err
		}
		for k, v := range header {
			if strings.EqualFold(k, "Host") {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
		req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
		hr, err = r.client.Do(req)
		if err == nil || attempt == maxResends || !reused || !idempotent(method) || !closedConn(err) || ctx.Err() != nil {
			return hr, attempt > 0, err
		}
	}
}

// idempotent says whether requests of method may be sent twice with the
// effect of once (RFC 9110, 9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// closedConn says whether err is a connection that ended before any answer.
// net/http says "server closed idle connection" when it saw the close first;
// that error is not exported.
func closedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "server closed idle connection")
}

// sameHost checks that a request made by joining a node's base URL and a
// path still goes to the node: a path such as "@example.com/" would
// otherwise turn the node's address into user info and aim the request at
// another host.
func sameHost(base, full string) error {
	b, err := url.Parse(base)
	if err != nil {
		return err
	}
	u, err := url.Parse(full)
	if err != nil {
		return fmt.Errorf("bad request path: %w", err)
	}
	if u.Host != b.Host || u.User != nil || u.Scheme != b.Scheme {
		return fmt.Errorf("bad request path %q: requests go to a node by path only, never to another host", strings.TrimPrefix(full, base))
	}
	return nil
}

// requestError makes a transport error read well beside the URL that the
// failure output shows anyway.
func (r *run) requestError(err error, limit time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) && r.ctx.Err() == nil {
		return fmt.Errorf("no response within %v: %w", render.Duration(limit), err)
	}
	return err
}
