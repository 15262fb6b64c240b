// Package openapitest checks an HTTP API against its OpenAPI 3.1
// description, for tests: the document against the OpenAPI 3.1
// specification's schema, and every request and response a test sends
// through a [Checker] against the document, with
// github.com/pb33f/libopenapi-validator (JSON Schema 2020-12).
//
// A test sends what a client would, and the checker requires both sides of
// each exchange to be what the document says: a request it means to
// conform must conform, a request it sends broken on purpose
// ([Checker.Nonconforming]) must break the document and be refused, and
// every response, errors included, must be one the document lists for
// that operation, with its status, headers and body.
package openapitest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/errors"
)

// Checker sends requests and checks each exchange against one document.
type Checker struct {
	t testing.TB
	// full checks everything; bodiless checks a response without a body
	// for its status and headers only (see Do).
	full, bodiless validator.Validator
	// Client sends the requests. Default http.DefaultClient.
	Client *http.Client
}

// New parses doc, fails the test unless it is a valid OpenAPI 3.1
// document, and returns a checker for it.
func New(t testing.TB, doc []byte) *Checker {
	t.Helper()
	if !bytes.HasPrefix(bytes.TrimSpace(doc), []byte("{")) || !bytes.Contains(doc, []byte(`"openapi": "3.1.`)) {
		t.Fatalf("not an OpenAPI 3.1 JSON document:\n%.300s", doc)
	}
	c := &Checker{t: t}
	c.full = newValidator(t, doc)
	c.bodiless = newValidator(t, doc, config.WithoutResponseBodyValidation())
	if ok, errs := c.full.ValidateDocument(); !ok {
		t.Fatalf("the document is not valid OpenAPI 3.1:\n%s", describe(errs))
	}
	return c
}

func newValidator(t testing.TB, doc []byte, opts ...config.Option) validator.Validator {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("parse the OpenAPI document: %v", err)
	}
	opts = append(opts, config.WithURLEncodedBodyValidation(), config.WithFormatAssertions())
	v, errs := validator.NewValidator(d, opts...)
	if len(errs) > 0 {
		t.Fatalf("build the validator: %v", errs)
	}
	return v
}

// Response is a response read in full.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends req, which must conform to the document, and returns the
// response, which must be one the document lists for the operation.
//
// An error response (4xx, 5xx) without a body and without a Content-Type
// is checked for its status and headers only: the content a document
// lists for a response is what it may carry, and RFC 6750 §3.1 answers a
// request without a token with a bare challenge.
func (c *Checker) Do(req *http.Request) Response {
	c.t.Helper()
	body := readBody(c.t, req)
	if ok, errs := c.full.ValidateHttpRequestSync(withBody(req, body)); !ok {
		c.t.Errorf("%s %s: the request does not conform to the document:\n%s", req.Method, req.URL.Path, describe(errs))
	}
	return c.send(req, body)
}

// Nonconforming sends req, which breaks the document on purpose (a member
// missing, no credentials), and returns the response. The document must
// say the request is wrong, and the server must refuse it with a 4xx that
// the document lists.
func (c *Checker) Nonconforming(req *http.Request) Response {
	c.t.Helper()
	body := readBody(c.t, req)
	if ok, _ := c.full.ValidateHttpRequestSync(withBody(req, body)); ok {
		c.t.Errorf("%s %s: the request conforms to the document, but the test means it not to", req.Method, req.URL.Path)
	}
	r := c.send(req, body)
	if r.Status < 400 || r.Status > 499 {
		c.t.Errorf("%s %s: a request the document refuses was answered %d, not a 4xx: %s", req.Method, req.URL.Path, r.Status, r.Body)
	}
	return r
}

func (c *Checker) send(req *http.Request, body []byte) Response {
	c.t.Helper()
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(withBody(req, body))
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("%s %s: read the response: %v", req.Method, req.URL.Path, err)
	}
	v := c.full
	if len(b) == 0 && resp.Header.Get("Content-Type") == "" && resp.StatusCode >= 400 {
		v = c.bodiless
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if ok, errs := v.ValidateHttpResponse(withBody(req, body), resp); !ok {
		c.t.Errorf("%s %s: the response %d does not conform to the document:\n%s\nbody: %s",
			req.Method, req.URL.Path, resp.StatusCode, describe(errs), b)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// readBody reads req's body, so that it can be both checked and sent.
func readBody(t testing.TB, req *http.Request) []byte {
	t.Helper()
	if req.Body == nil {
		return nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		t.Fatalf("read the request body: %v", err)
	}
	return b
}

// withBody returns a copy of req that reads body.
func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	if body == nil {
		r.Body = http.NoBody
		return r
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r
}

func describe(errs []*errors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  - " + e.Message)
		if e.Reason != "" {
			b.WriteString(": " + e.Reason)
		}
		b.WriteByte('\n')
		for _, f := range e.SchemaValidationErrors {
			b.WriteString("      " + f.Reason)
			if f.FieldPath != "" {
				b.WriteString(" at " + f.FieldPath)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// HandlerClient is a client that serves every request with h in-process,
// from the address 192.0.2.1 (RFC 5737), without a network.
func HandlerClient(h http.Handler) *http.Client {
	return &http.Client{Transport: handlerTransport{h}}
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RemoteAddr = "192.0.2.1:1234"
	r.RequestURI = req.URL.RequestURI()
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
