package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
)

// What the /set methods of an account's documents share: whose account
// a call is about, its state, and SetErrors that name the property.

// accountFor is the account a call works on: its accountId argument, which
// an account's own credentials may leave out. An API user needs perm to
// reach another account; the account must be active (accountNotFound).
func (a *api) accountFor(ctx context.Context, p *jmap.Principal, accountID *string, perm string) (string, error) {
	id := p.Account
	if accountID != nil {
		id = *accountID
	}
	if id == "" {
		return "", jmap.Errorf("invalidArguments", "accountId is required")
	}
	if !p.CanAccount(id, perm) {
		return "", jmap.Errorf("forbidden", "%s may not reach account %s (needs the %s permission)", p.Name, id, perm)
	}
	acc, err := a.s.Account(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && acc.State != Active {
		return "", jmap.Errorf("accountNotFound", "no active account %s", id)
	}
	if err != nil {
		return "", err
	}
	return id, nil
}

// state is the account's state for type t, checked against ifInState
// (stateMismatch when it differs, RFC 8620 5.3).
func (a *api) state(ctx context.Context, account string, t Type, ifInState *string) (string, error) {
	st, err := a.s.State(ctx, account, t)
	if err != nil {
		return "", err
	}
	if ifInState != nil && *ifInState != st {
		return "", jmap.Errorf("stateMismatch", "the state of %s is %s, not %s", t, st, *ifInState)
	}
	return st, nil
}

// invalidProps is an invalidProperties SetError about one property.
func invalidProps(property, format string, args ...any) *jmap.SetError {
	return &jmap.SetError{Type: "invalidProperties", Properties: []string{property}, Description: property + ": " + fmt.Sprintf(format, args...)}
}

// decodeProps decodes an object's properties into v, a pointer to a
// struct with json tags, one property at a time, so that a problem (an
// unknown property, a value of the wrong type) is an invalidProperties
// SetError naming the property. A null value leaves a plain field as it
// was and sets a pointer to nil, so the same struct takes a create and a
// patch of plain properties.
func decodeProps(raw json.RawMessage, v any) *jmap.SetError {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil || props == nil {
		return &jmap.SetError{Type: "invalidProperties", Description: "an object's properties must be a JSON object"}
	}
	rv := reflect.ValueOf(v).Elem()
	fields := map[string]int{}
	for i := range rv.NumField() {
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}
	for _, k := range sortedKeys(props) {
		i, ok := fields[k]
		if !ok {
			return invalidProps(k, "unknown property")
		}
		f := rv.Field(i).Addr().Interface()
		if err := json.Unmarshal(props[k], f); err != nil {
			return invalidProps(k, "%s", jsonKind(f, err))
		}
	}
	return nil
}

// jsonKind says what a property's value must be, in JSON's words.
func jsonKind(field any, err error) string {
	switch field.(type) {
	case *time.Time, **time.Time:
		return "must be an RFC 3339 date-time, such as 2026-01-02T15:04:05Z"
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	if te.Field != "" && te.Field != te.Struct {
		return fmt.Sprintf("%s must be %s, not %s", strings.ReplaceAll(te.Field, ".", "/"), jmap.KindOf(te.Type), te.Value)
	}
	return fmt.Sprintf("must be %s, not %s", jmap.KindOf(te.Type), te.Value)
}

// patchPath splits a patch key into its property and the rest of the
// path, unescaped (RFC 6901: ~1 is /, ~0 is ~): "keywords/$seen" gives
// "keywords" and "$seen".
func patchPath(key string) (prop, rest string, nested bool) {
	prop, rest, nested = strings.Cut(key, "/")
	return prop, strings.NewReplacer("~1", "/", "~0", "~").Replace(rest), nested
}
