// Package jmap serves jetmail's admin API as JMAP method calls (RFC 8620):
// a request is {"using": [...], "methodCalls": [[name, args, callId], ...]}
// and the response {"methodResponses": [...], "sessionState": ...}.
//
// Errors come at three levels, as in the RFC:
//   - request: malformed JSON, not a request, an unknown capability, no
//     valid credentials, or a request over MaxSizeRequest or
//     MaxCallsInRequest get an HTTP error with a problem-details body
//     (RFC 7807) whose type is urn:ietf:params:jmap:error:<type> (for a
//     limit, "limit" names it);
//   - method: ["error", {"type": ..., "description": ...}, callId] with
//     types such as unknownMethod, invalidArguments, forbidden, serverFail,
//     and requestTooLarge for a /get or /set over MaxObjectsInGet or
//     MaxObjectsInSet;
//   - object (in /set): SetError {"type": "invalidProperties",
//     "properties": [...], "description": ...}, notFound, forbidden.
//
// Methods are registered with the permission they need; a principal holding
// "admin" holds every permission.
package jmap

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Capabilities jetmail serves.
const (
	CapabilityCore  = "urn:ietf:params:jmap:core"
	CapabilityAdmin = "urn:jetmail:params:jmap:admin"
)

// Limits of the admin API, named as RFC 8620 names them in the core
// capability. A request over MaxSizeRequest or MaxCallsInRequest gets the
// request-level error urn:ietf:params:jmap:error:limit, whose "limit"
// property names the limit (RFC 8620 3.6.1); a /get or /set over its
// limit gets the method error requestTooLarge (RFC 8620 5.1, 5.3), and
// nothing of that call is done.
const (
	// MaxSizeRequest bounds a request body, in bytes: 10 MiB.
	MaxSizeRequest = 10 << 20
	// MaxCallsInRequest bounds the method calls of one request: 16.
	MaxCallsInRequest = 16
	// MaxObjectsInGet bounds the ids of one /get: 1000.
	MaxObjectsInGet = 1000
	// MaxObjectsInSet bounds the creates, updates and destroys of one
	// /set together: 1000.
	MaxObjectsInSet = 1000
)

// Principal is an authenticated API user.
type Principal struct {
	Name        string
	Permissions []string
	// Account is set when the caller is a mail account with its own
	// credentials (SetAccountAuth): it reaches that account's data only.
	Account string
}

// CanAccount reports whether p may reach account id's data: its own
// account, or any as an API user with permission perm.
func (p *Principal) CanAccount(id, perm string) bool {
	if p.Account != "" {
		return p.Account == id
	}
	return p.Can(perm)
}

// Can reports whether p holds permission perm.
func (p *Principal) Can(perm string) bool {
	return perm == "" || slices.Contains(p.Permissions, "admin") || slices.Contains(p.Permissions, perm)
}

// User is a configured API user.
type User struct {
	Name        string
	Secret      string
	Permissions []string
}

// MethodError is a method-level error.
type MethodError struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

func (e *MethodError) Error() string { return e.Type + ": " + e.Description }

// Errorf returns a method error of type typ.
func Errorf(typ, format string, args ...any) *MethodError {
	return &MethodError{Type: typ, Description: fmt.Sprintf(format, args...)}
}

// SetError is an object-level error of a /set method.
type SetError struct {
	Type        string   `json:"type"`
	Description string   `json:"description,omitempty"`
	Properties  []string `json:"properties,omitempty"`
	// ExistingID is the id of the object that an alreadyExists error is
	// about (RFC 8620 5.3, as Email/import gives it).
	ExistingID string `json:"existingId,omitempty"`
}

func (e *SetError) Error() string { return e.Type + ": " + e.Description }

// Handler runs one method call. It returns the result object, or an error:
// a *MethodError goes back as is, anything else as serverFail.
type Handler func(ctx context.Context, p *Principal, args json.RawMessage) (any, error)

type method struct {
	perm string
	h    Handler
}

// Server dispatches method calls.
type Server struct {
	log     *slog.Logger
	mu      sync.RWMutex
	methods map[string]method
	types   map[string]bool
	onType  func(string)
	users   []User
	account func(name, secret string) *Principal
}

// SetAccountAuth lets mail accounts call the API with basic credentials
// (their login name and secret): auth returns the account's principal, or
// nil when the credentials are not an account's. API users come first.
func (s *Server) SetAccountAuth(auth func(name, secret string) *Principal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account = auth
}

// NewServer returns a server that accepts the given users.
func NewServer(users []User, log *slog.Logger) *Server {
	return &Server{log: log, methods: map[string]method{}, users: users}
}

// Handle registers a method; calling it needs permission perm ("" for
// none beyond authentication).
func (s *Server) Handle(name, perm string, h Handler) {
	s.mu.Lock()
	t := ObjectType(name)
	isNew := !s.types[t]
	if s.types == nil {
		s.types = map[string]bool{}
	}
	s.types[t] = true
	s.methods[name] = method{perm, h}
	onType := s.onType
	s.mu.Unlock()
	if isNew && onType != nil {
		onType(t)
	}
}

// OnType calls f with each object type that has methods (ObjectType of
// their names): at once for those registered so far, then as each new
// type's first method is registered. The node serves each type over NATS
// so.
func (s *Server) OnType(f func(objectType string)) {
	s.mu.Lock()
	s.onType = f
	types := make([]string, 0, len(s.types))
	for t := range s.types {
		types = append(types, t)
	}
	s.mu.Unlock()
	sort.Strings(types)
	for _, t := range types {
		f(t)
	}
}

// Methods lists the registered method names, sorted.
func (s *Server) Methods() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.methods))
	for n := range s.methods {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Problem is a request-level error (RFC 7807 problem details).
type Problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Limit names the limit a urn:ietf:params:jmap:error:limit problem
	// applies, such as "maxSizeRequest".
	Limit string `json:"limit,omitempty"`
}

func (p *Problem) Error() string { return p.Detail }

func problem(status int, typ, format string, args ...any) *Problem {
	return &Problem{Type: "urn:ietf:params:jmap:error:" + typ, Status: status, Detail: fmt.Sprintf(format, args...)}
}

// Authenticate checks an Authorization header value: "Basic" with a user
// name and secret, or "Bearer" with a secret.
func (s *Server) Authenticate(header string) (*Principal, *Problem) {
	s.mu.RLock()
	noAccounts := s.account == nil
	s.mu.RUnlock()
	if len(s.users) == 0 && noAccounts {
		return nil, problem(http.StatusUnauthorized, "unauthorized", "no API users are configured (api.users.<name>); every request is refused")
	}
	scheme, cred, _ := strings.Cut(header, " ")
	var name, secret string
	switch strings.ToLower(scheme) {
	case "basic":
		r := http.Request{Header: http.Header{"Authorization": {header}}}
		var ok bool
		if name, secret, ok = r.BasicAuth(); !ok {
			return nil, problem(http.StatusUnauthorized, "unauthorized", "malformed basic credentials")
		}
	case "bearer":
		secret = strings.TrimSpace(cred)
	case "":
		return nil, problem(http.StatusUnauthorized, "unauthorized", "authentication required: send Authorization: Bearer <secret> or basic credentials")
	default:
		return nil, problem(http.StatusUnauthorized, "unauthorized", "unsupported authorization scheme %q: use Bearer or Basic", scheme)
	}
	var found *User
	for i := range s.users {
		u := &s.users[i]
		// Compare every secret, in constant time, whatever matches.
		if subtle.ConstantTimeCompare([]byte(u.Secret), []byte(secret)) == 1 && (name == "" || name == u.Name) && found == nil {
			found = u
		}
	}
	if found == nil {
		s.mu.RLock()
		account := s.account
		s.mu.RUnlock()
		if account != nil && name != "" {
			if p := account(name, secret); p != nil {
				return p, nil
			}
		}
		return nil, problem(http.StatusUnauthorized, "unauthorized", "invalid credentials")
	}
	return &Principal{Name: found.Name, Permissions: found.Permissions}, nil
}

// Principal returns the configured user name as a principal, for a
// caller whose identity something else has established (the NATS server,
// over NATS): no secret is checked.
func (s *Server) Principal(name string) (*Principal, *Problem) {
	for _, u := range s.users {
		if u.Name == name {
			return &Principal{Name: u.Name, Permissions: u.Permissions}, nil
		}
	}
	return nil, problem(http.StatusUnauthorized, "unauthorized", "no API user %q (api.users.<name>)", name)
}

// Invocation is one method call or response: on the wire the array
// [name, arguments, callId].
type Invocation struct {
	Name   string
	Args   json.RawMessage
	CallID string
}

// MarshalJSON writes the array form.
func (inv Invocation) MarshalJSON() ([]byte, error) {
	args := inv.Args
	if args == nil {
		args = json.RawMessage("{}")
	}
	return json.Marshal([]any{inv.Name, args, inv.CallID})
}

// UnmarshalJSON reads the array form.
func (inv *Invocation) UnmarshalJSON(b []byte) error {
	var call []json.RawMessage
	if err := json.Unmarshal(b, &call); err != nil || len(call) != 3 {
		return errors.New("an invocation must be [name, arguments, callId]")
	}
	if json.Unmarshal(call[0], &inv.Name) != nil || json.Unmarshal(call[2], &inv.CallID) != nil {
		return errors.New("an invocation's name and callId must be strings")
	}
	inv.Args = call[1]
	return nil
}

// Request is a JMAP request (RFC 8620 3.3).
type Request struct {
	Using       []string     `json:"using"`
	MethodCalls []Invocation `json:"methodCalls"`
}

// Response is a JMAP response (RFC 8620 3.4).
type Response struct {
	MethodResponses []Invocation `json:"methodResponses"`
	SessionState    string       `json:"sessionState"`
}

// request is a Request as the server first reads it: each call stays raw,
// so that a malformed one is reported with its index.
type request struct {
	Using       []string          `json:"using"`
	MethodCalls []json.RawMessage `json:"methodCalls"`
}

// Process runs a request body for principal p and returns the response
// body, or a request-level problem.
func (s *Server) Process(ctx context.Context, p *Principal, body []byte) ([]byte, *Problem) {
	if len(body) > MaxSizeRequest {
		return nil, limitProblem(http.StatusRequestEntityTooLarge, "maxSizeRequest", "the request is %d bytes; at most %d bytes (maxSizeRequest)", len(body), MaxSizeRequest)
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || !json.Valid(body) {
			return nil, problem(http.StatusBadRequest, "notJSON", "the request is not valid JSON: %v", err)
		}
		return nil, problem(http.StatusBadRequest, "notRequest", "the request is not a JMAP Request object: %v", err)
	}
	if req.Using == nil || req.MethodCalls == nil {
		return nil, problem(http.StatusBadRequest, "notRequest", `a request needs "using" and "methodCalls"`)
	}
	for _, c := range req.Using {
		if c != CapabilityCore && c != CapabilityAdmin {
			return nil, problem(http.StatusBadRequest, "unknownCapability", "unknown capability %q (supported: %s, %s)", c, CapabilityCore, CapabilityAdmin)
		}
	}
	if n := len(req.MethodCalls); n > MaxCallsInRequest {
		return nil, limitProblem(http.StatusBadRequest, "maxCallsInRequest", "the request has %d method calls; at most %d per request (maxCallsInRequest)", n, MaxCallsInRequest)
	}
	resp := Response{MethodResponses: make([]Invocation, 0, len(req.MethodCalls)), SessionState: UntrackedState}
	for i, raw := range req.MethodCalls {
		var call Invocation
		if err := json.Unmarshal(raw, &call); err != nil {
			return nil, problem(http.StatusBadRequest, "notRequest", "methodCalls[%d]: %v", i, err)
		}
		resp.MethodResponses = append(resp.MethodResponses, s.call(ctx, p, call))
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, problem(http.StatusInternalServerError, "serverFail", "encode response: %v", err)
	}
	return out, nil
}

func (s *Server) call(ctx context.Context, p *Principal, call Invocation) Invocation {
	name, args := call.Name, call.Args
	s.mu.RLock()
	m, ok := s.methods[name]
	s.mu.RUnlock()
	fail := func(e *MethodError) Invocation {
		b, _ := json.Marshal(e) // two strings: cannot fail
		return Invocation{Name: "error", Args: b, CallID: call.CallID}
	}
	if !ok {
		return fail(Errorf("unknownMethod", "unknown method %q (methods: %s)", name, strings.Join(s.Methods(), ", ")))
	}
	if !p.Can(m.perm) {
		return fail(Errorf("forbidden", "%s needs the %s permission, which %s lacks", name, m.perm, p.Name))
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(args, &obj) != nil || obj == nil {
		return fail(Errorf("invalidArguments", "the arguments of %s must be a JSON object", name))
	}
	if e := tooLarge(name, obj); e != nil {
		return fail(e)
	}
	res, err := m.h(ctx, p, args)
	var out []byte
	if err == nil {
		if out, err = json.Marshal(res); err != nil {
			err = fmt.Errorf("encode the result of %s: %w", name, err)
		}
	}
	if err != nil {
		var me *MethodError
		if errors.As(err, &me) {
			return fail(me)
		}
		s.log.Error("api method failed", "method", name, "user", p.Name, "err", err)
		return fail(Errorf("serverFail", "%v", err))
	}
	return Invocation{Name: name, Args: out, CallID: call.CallID}
}

func limitProblem(status int, limit, format string, args ...any) *Problem {
	p := problem(status, "limit", format, args...)
	p.Limit = limit
	return p
}

// tooLarge applies MaxObjectsInGet and MaxObjectsInSet to a /get or /set
// call, whatever the object type, before its handler runs. Arguments of
// the wrong shape are left to the handler to report.
func tooLarge(name string, args map[string]json.RawMessage) *MethodError {
	count := func(key string) int {
		var m map[string]json.RawMessage
		if json.Unmarshal(args[key], &m) == nil {
			return len(m)
		}
		var l []json.RawMessage
		_ = json.Unmarshal(args[key], &l)
		return len(l)
	}
	switch {
	case strings.HasSuffix(name, "/get"):
		if n := count("ids"); n > MaxObjectsInGet {
			return Errorf("requestTooLarge", "%d ids; at most %d per %s (maxObjectsInGet)", n, MaxObjectsInGet, name)
		}
	case strings.HasSuffix(name, "/set"):
		if n := count("create") + count("update") + count("destroy"); n > MaxObjectsInSet {
			return Errorf("requestTooLarge", "%d objects to create, update or destroy; at most %d per %s (maxObjectsInSet)", n, MaxObjectsInSet, name)
		}
	}
	return nil
}

// ServeHTTP serves POST requests with a JMAP body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeProblem(w, problem(http.StatusMethodNotAllowed, "notRequest", "use POST with a JMAP request body"))
		return
	}
	p, prob := s.Authenticate(r.Header.Get("Authorization"))
	if prob != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="jetmail", charset="UTF-8"`)
		writeProblem(w, prob)
		return
	}
	if r.ContentLength > MaxSizeRequest {
		writeProblem(w, limitProblem(http.StatusRequestEntityTooLarge, "maxSizeRequest", "the request is %d bytes; at most %d bytes (maxSizeRequest)", r.ContentLength, MaxSizeRequest))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSizeRequest))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeProblem(w, limitProblem(http.StatusRequestEntityTooLarge, "maxSizeRequest", "the request is larger than %d bytes (maxSizeRequest)", MaxSizeRequest))
		return
	}
	if err != nil {
		writeProblem(w, problem(http.StatusBadRequest, "notRequest", "read body: %v", err))
		return
	}
	out, prob := s.Process(r.Context(), p, body)
	if prob != nil {
		writeProblem(w, prob)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// Args decodes method arguments strictly into v: an unknown argument or a
// bad value is an invalidArguments error naming it by its path
// ("filter/before"). A *MethodError from a type that decodes itself (a
// filter) is returned as it is.
func Args(raw json.RawMessage, v any) error {
	err := strictDecode(raw, v)
	if err == nil {
		return nil
	}
	var me *MethodError
	if errors.As(err, &me) {
		return me
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		path := strings.ReplaceAll(te.Field, ".", "/")
		// The error of an item names the list: say so.
		if _, at, _ := argPath(raw, reflect.TypeOf(v)); at != nil && (at.Kind() == reflect.Slice || at.Kind() == reflect.Map) && at.Elem() == te.Type {
			return Errorf("invalidArguments", "argument %s must be %s, each item %s", path, KindOf(at), KindOf(te.Type))
		}
		return Errorf("invalidArguments", "argument %s must be %s", path, KindOf(te.Type))
	}
	// Neither an unknown field nor an error from a value's own decoder
	// (time.Time's "parsing time ...") says where it is: find it.
	path, at, unknown := argPath(raw, reflect.TypeOf(v))
	switch {
	case path == "":
		return Errorf("invalidArguments", "%v", err)
	case unknown:
		return Errorf("invalidArguments", "unknown argument %q", path)
	case at == timeType:
		return Errorf("invalidArguments", "argument %s must be an RFC 3339 date-time, such as 2026-01-02T15:04:05Z", path)
	}
	return Errorf("invalidArguments", "argument %s: %v", path, err)
}

func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// argPath finds where decoding raw into a value of type t fails, one
// property at a time, descending into objects: the path of the property,
// its type, and whether it is unknown. It returns "" when no property of
// an object fails alone.
func argPath(raw json.RawMessage, t reflect.Type) (path string, at reflect.Type, unknown bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return "", nil, false
	}
	var props map[string]json.RawMessage
	if json.Unmarshal(raw, &props) != nil {
		return "", nil, false
	}
	fields := jsonFields(t, map[string]reflect.Type{})
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ft, ok := fields[strings.ToLower(k)] // as encoding/json matches names
		if !ok {
			return k, nil, true
		}
		if strictDecode(props[k], reflect.New(ft).Interface()) == nil {
			continue
		}
		if sub, at, unknown := argPath(props[k], ft); sub != "" {
			return k + "/" + sub, at, unknown
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		return k, ft, false
	}
	return "", nil, false
}

// jsonFields adds the JSON names of t's fields, in lower case, to out.
func jsonFields(t reflect.Type, out map[string]reflect.Type) map[string]reflect.Type {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			jsonFields(f.Type, out)
		case name == "":
			out[strings.ToLower(f.Name)] = f.Type
		default:
			out[strings.ToLower(name)] = f.Type
		}
	}
	return out
}

// KindOf says what a value of Go type t is in JSON's words: "a string",
// "a whole number", "an object"..., for errors that name what a property
// must be.
func KindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "an RFC 3339 date-time"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a " + t.String()
}
