package jmap

import (
	"encoding/json"
	"fmt"
)

// UntrackedState is the state string of every object type: jetmail does not
// track object states (there are no /changes methods), so a client sees
// "0" before and after any change.
const UntrackedState = "0"

// None is the object type of a /set result that never holds objects: the
// created objects of a type that cannot be created, or the updated objects
// of a type whose updates change nothing beyond what the client asked
// (their values are null on the wire).
type None struct{}

// GetArgs are the standard arguments of a /get method (RFC 8620 5.1).
type GetArgs struct {
	AccountID *string `json:"accountId,omitempty"`
	// IDs is nil to ask for every object.
	IDs *[]string `json:"ids,omitempty"`
	// Properties is nil for every property; "id" is always returned.
	Properties []string `json:"properties,omitempty"`
}

// GetResponse is the response of a /get method (RFC 8620 5.1) for objects
// of type T.
type GetResponse[T any] struct {
	AccountID *string  `json:"accountId"`
	State     string   `json:"state"`
	List      []T      `json:"list"`
	NotFound  []string `json:"notFound"`
}

// NewGetResponse returns an empty /get response: no objects, none missing.
func NewGetResponse[T any]() *GetResponse[T] {
	return &GetResponse[T]{State: UntrackedState, List: []T{}, NotFound: []string{}}
}

// Comparator is one sort criterion of a /query method (RFC 8620 5.5).
type Comparator struct {
	Property string `json:"property"`
	// IsAscending is nil for the default, ascending.
	IsAscending *bool  `json:"isAscending,omitempty"`
	Collation   string `json:"collation,omitempty"`
}

// Descending reports whether c sorts latest (largest) first.
func (c Comparator) Descending() bool { return c.IsAscending != nil && !*c.IsAscending }

// QueryArgs are the standard arguments of a /query method (RFC 8620 5.5)
// with a filter of type F. A filter type that decodes itself should report
// a property it does not know as unsupportedFilter, as the RFC asks.
type QueryArgs[F any] struct {
	AccountID *string      `json:"accountId,omitempty"`
	Filter    *F           `json:"filter,omitempty"`
	Sort      []Comparator `json:"sort,omitempty"`
	// Position is the index of the first id returned (0 or more).
	Position int `json:"position,omitempty"`
	// Limit caps the ids returned; nil for no cap.
	Limit          *int `json:"limit,omitempty"`
	CalculateTotal bool `json:"calculateTotal,omitempty"`
}

// Check reports a negative position or limit as invalidArguments.
func (a *QueryArgs[F]) Check() error {
	if a.Position < 0 {
		return Errorf("invalidArguments", "position must be 0 or more, got %d", a.Position)
	}
	if a.Limit != nil && *a.Limit < 0 {
		return Errorf("invalidArguments", "limit must be 0 or more, got %d", *a.Limit)
	}
	return nil
}

// DecodeQuery reads the arguments of a /query method and checks them.
func DecodeQuery[F any](raw json.RawMessage) (*QueryArgs[F], error) {
	var args QueryArgs[F]
	if err := Args(raw, &args); err != nil {
		return nil, err
	}
	if err := args.Check(); err != nil {
		return nil, err
	}
	return &args, nil
}

// LimitOr is the limit, or def when there is none.
func (a *QueryArgs[F]) LimitOr(def int) int {
	if a.Limit == nil {
		return def
	}
	return *a.Limit
}

// QueryResponse is the response of a /query method (RFC 8620 5.5). Total
// is always given, whether or not calculateTotal was asked for.
type QueryResponse struct {
	AccountID           *string  `json:"accountId"`
	QueryState          string   `json:"queryState"`
	CanCalculateChanges bool     `json:"canCalculateChanges"`
	Position            int      `json:"position"`
	IDs                 []string `json:"ids"`
	Total               int      `json:"total"`
	// Partial is set on an answer that may miss items: a full-text search
	// answered while the index of the account was still being built.
	Partial bool `json:"x:partial,omitempty"`
}

// NewQueryResponse returns the response for one page of ids out of total,
// asked for from position (which is capped at total, as the RFC says).
func NewQueryResponse(ids []string, position, total int) *QueryResponse {
	if ids == nil {
		ids = []string{}
	}
	return &QueryResponse{QueryState: UntrackedState, Position: min(position, total), IDs: ids, Total: total}
}

// PatchObject is the update of one object in a /set method (RFC 8620 5.3):
// property names or paths into them ("strategy/delay") mapped to their new
// values.
type PatchObject map[string]json.RawMessage

// Set sets the property at path to v, encoded as JSON.
func (p PatchObject) Set(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("patch %s: %w", path, err)
	}
	p[path] = b
	return nil
}

// SetArgs are the standard arguments of a /set method (RFC 8620 5.3).
// Creates and updates stay raw JSON so that each object's problems are
// reported for that object, as a SetError, not for the whole call.
type SetArgs struct {
	AccountID *string                    `json:"accountId,omitempty"`
	IfInState *string                    `json:"ifInState,omitempty"`
	Create    map[string]json.RawMessage `json:"create,omitempty"`
	Update    map[string]json.RawMessage `json:"update,omitempty"`
	Destroy   []string                   `json:"destroy,omitempty"`
}

// SetResponse is the response of a /set method (RFC 8620 5.3). C is what
// the server tells of each created object (its id and the properties it
// set); U what it tells of each updated one, nil (null) when it changed
// nothing beyond the patch. Every field is always present, empty when
// nothing happened, so a client never has to tell null from {}.
type SetResponse[C, U any] struct {
	AccountID    *string              `json:"accountId"`
	OldState     string               `json:"oldState"`
	NewState     string               `json:"newState"`
	Created      map[string]C         `json:"created"`
	Updated      map[string]*U        `json:"updated"`
	Destroyed    []string             `json:"destroyed"`
	NotCreated   map[string]*SetError `json:"notCreated"`
	NotUpdated   map[string]*SetError `json:"notUpdated"`
	NotDestroyed map[string]*SetError `json:"notDestroyed"`
}

// NewSetResponse returns a /set response in which nothing happened yet.
func NewSetResponse[C, U any]() *SetResponse[C, U] {
	return &SetResponse[C, U]{
		OldState: UntrackedState, NewState: UntrackedState,
		Created: map[string]C{}, Updated: map[string]*U{}, Destroyed: []string{},
		NotCreated: map[string]*SetError{}, NotUpdated: map[string]*SetError{}, NotDestroyed: map[string]*SetError{},
	}
}

// Failures are the objects the /set left alone, each with its error as
// "type: description", by id (creation id for creates).
func (r *SetResponse[C, U]) Failures() map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]*SetError{r.NotCreated, r.NotUpdated, r.NotDestroyed} {
		for id, e := range m {
			out[id] = e.Error()
		}
	}
	return out
}
