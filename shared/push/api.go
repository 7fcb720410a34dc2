package push

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/store"
)

// Permissions that let an API user reach any account's subscriptions.
const (
	PermGet = "sysPushSubscriptionGet"
	PermSet = "sysPushSubscriptionSet"
)

// DefaultMaxPerAccount is APIParams.MaxPerAccount's default.
const DefaultMaxPerAccount = 50

// APIParams configure RegisterAPI. Zero fields take the defaults noted.
type APIParams struct {
	Registry *Registry
	Sender   *Sender
	// Account says whether an account exists (nil error), for an API
	// user naming one. Required.
	Account func(ctx context.Context, id string) error
	// Clock tells expiries. Default the system clock.
	Clock clock.Clock
	// MaxPerAccount bounds an account's subscriptions. Default
	// DefaultMaxPerAccount.
	MaxPerAccount int
}

type api struct{ p APIParams }

// RegisterAPI serves PushSubscription/get and /set on srv.
func RegisterAPI(srv *jmap.Server, p APIParams) {
	if p.Clock == nil {
		p.Clock = clock.Real
	}
	if p.MaxPerAccount <= 0 {
		p.MaxPerAccount = DefaultMaxPerAccount
	}
	a := &api{p}
	srv.Handle(adminapi.MethodPushSubscriptionGet, "", a.get) // by account, or PermGet
	srv.Handle(adminapi.MethodPushSubscriptionSet, "", a.set)
}

// account is whose subscriptions a call reaches: the caller's own, or,
// for an API user with perm, the one it names.
func (a *api) account(ctx context.Context, p *jmap.Principal, id *string, perm string) (string, error) {
	if id == nil || *id == "" {
		if p.Account == "" {
			return "", jmap.Errorf("invalidArguments", "a push subscription belongs to an account: call with the account's credentials, or give accountId (with the %s permission)", perm)
		}
		return p.Account, nil
	}
	if !p.CanAccount(*id, perm) {
		return "", jmap.Errorf("forbidden", "needs the %s permission to reach account %s's push subscriptions", perm, *id)
	}
	if p.Account == "" {
		if err := a.p.Account(ctx, *id); errors.Is(err, store.ErrNotFound) {
			return "", jmap.Errorf("accountNotFound", "no account %s", *id)
		} else if err != nil {
			return "", err
		}
	}
	return *id, nil
}

// properties are what PushSubscription/get shows, in its order.
var properties = []string{"id", "deviceClientId", "verificationCode", "expires", "types", "x:failures", "x:disabled"}

func out(s *Subscription) adminapi.PushSubscription {
	o := adminapi.PushSubscription{ID: s.ID, DeviceClientID: s.DeviceClientID, Expires: s.Expires, Types: s.Types, Failures: s.Failures}
	if s.Verified {
		o.VerificationCode = &s.Code
	}
	if s.Disabled != "" {
		o.Disabled = &s.Disabled
	}
	return o
}

func (a *api) get(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.GetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	for _, prop := range args.Properties {
		if !slices.Contains(properties, prop) {
			return nil, jmap.Errorf("invalidArguments", "unknown property %q (properties: %s; url and keys are never shown)", prop, strings.Join(properties, ", "))
		}
	}
	account, err := a.account(ctx, p, args.AccountID, PermGet)
	if err != nil {
		return nil, err
	}
	var subs []*Subscription
	res := jmap.NewGetResponse[any]()
	res.AccountID = &account
	if args.IDs == nil {
		if subs, err = a.p.Registry.List(ctx, account); err != nil {
			return nil, err
		}
	} else {
		if len(*args.IDs) > jmap.MaxObjectsInGet {
			return nil, jmap.Errorf("requestTooLarge", "at most %d ids per PushSubscription/get", jmap.MaxObjectsInGet)
		}
		for _, id := range *args.IDs {
			s, _, err := a.p.Registry.Get(ctx, account, id)
			if errors.Is(err, ErrNotFound) {
				res.NotFound = append(res.NotFound, id)
				continue
			}
			if err != nil {
				return nil, err
			}
			subs = append(subs, s)
		}
	}
	for _, s := range subs {
		o := out(s)
		if args.Properties == nil {
			res.List = append(res.List, o)
			continue
		}
		b, _ := json.Marshal(o)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for k := range m {
			if k != "id" && !slices.Contains(args.Properties, k) {
				delete(m, k)
			}
		}
		res.List = append(res.List, m)
	}
	return res, nil
}

func (a *api) set(ctx context.Context, p *jmap.Principal, raw json.RawMessage) (any, error) {
	var args jmap.SetArgs
	if err := jmap.Args(raw, &args); err != nil {
		return nil, err
	}
	if args.IfInState != nil {
		return nil, jmap.Errorf("invalidArguments", "push subscriptions have no state: leave ifInState out")
	}
	if n := len(args.Create) + len(args.Update) + len(args.Destroy); n > jmap.MaxObjectsInSet {
		return nil, jmap.Errorf("requestTooLarge", "%d operations; at most %d per PushSubscription/set", n, jmap.MaxObjectsInSet)
	}
	account, err := a.account(ctx, p, args.AccountID, PermSet)
	if err != nil {
		return nil, err
	}
	res := jmap.NewSetResponse[adminapi.PushSubscriptionCreated, jmap.None]()
	res.AccountID = &account
	if len(args.Create) > 0 {
		have, err := a.p.Registry.List(ctx, account)
		if err != nil {
			return nil, err
		}
		n := len(have)
		for _, cid := range slices.Sorted(maps.Keys(args.Create)) {
			if n >= a.p.MaxPerAccount {
				res.NotCreated[cid] = &jmap.SetError{Type: "overQuota", Description: fmt.Sprintf("the account has %d push subscriptions, the most it may have; destroy one first", n)}
				continue
			}
			id, serr := a.create(ctx, account, args.Create[cid])
			if serr != nil {
				res.NotCreated[cid] = serr
				continue
			}
			n++
			res.Created[cid] = adminapi.PushSubscriptionCreated{ID: id}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(args.Update)) {
		if serr := a.update(ctx, account, id, args.Update[id]); serr != nil {
			res.NotUpdated[id] = serr
			continue
		}
		res.Updated[id] = nil
	}
	for _, id := range args.Destroy {
		if _, _, err := a.p.Registry.Get(ctx, account, id); errors.Is(err, ErrNotFound) {
			res.NotDestroyed[id] = &jmap.SetError{Type: "notFound", Description: fmt.Sprintf("no push subscription %s", id)}
			continue
		} else if err != nil {
			return nil, err
		}
		if err := a.p.Registry.Delete(ctx, account, id); err != nil {
			return nil, err
		}
		res.Destroyed = append(res.Destroyed, id)
	}
	return res, nil
}

func invalid(prop, format string, args ...any) *jmap.SetError {
	return &jmap.SetError{Type: "invalidProperties", Properties: []string{prop}, Description: prop + ": " + fmt.Sprintf(format, args...)}
}

// create checks a new subscription, stores it, and POSTs its
// verification; a URL the verification cannot reach is refused, and the
// subscription removed.
func (a *api) create(ctx context.Context, account string, raw json.RawMessage) (string, *jmap.SetError) {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil {
		return "", &jmap.SetError{Type: "invalidProperties", Description: "a push subscription must be an object: " + err.Error()}
	}
	s := &Subscription{ID: store.NewID(), Account: account, Created: a.p.Clock.Now().UTC()}
	for _, k := range slices.Sorted(maps.Keys(props)) {
		v := props[k]
		var serr *jmap.SetError
		switch k {
		case "deviceClientId":
			if json.Unmarshal(v, &s.DeviceClientID) != nil || s.DeviceClientID == "" || len(s.DeviceClientID) > 255 {
				serr = invalid(k, "must be a string of 1 to 255 characters")
			}
		case "url":
			if json.Unmarshal(v, &s.URL) != nil {
				serr = invalid(k, "must be a string")
			} else if err := CheckURL(s.URL); err != nil {
				serr = invalid(k, "%v", err)
			}
		case "keys":
			if string(v) != "null" {
				serr = invalid(k, "message encryption (RFC 8291) is not supported: leave keys out, and pushes are sent as plain JSON over HTTPS")
			}
		case "expires", "types":
			serr = a.setChangeable(s, k, v)
		case "id", "verificationCode", "x:failures", "x:disabled":
			serr = invalid(k, "is set by the server")
		default:
			serr = invalid(k, "unknown property (properties: deviceClientId, url, expires, types)")
		}
		if serr != nil {
			return "", serr
		}
	}
	for _, k := range []string{"deviceClientId", "url"} {
		if _, ok := props[k]; !ok {
			return "", invalid(k, "missing")
		}
	}
	code := make([]byte, 16)
	_, _ = rand.Read(code)
	s.Code = hex.EncodeToString(code)
	if err := a.p.Registry.Create(ctx, s); err != nil {
		return "", &jmap.SetError{Type: "serverFail", Description: err.Error()}
	}
	// Stored first: a client may echo the code before the POST returns.
	err := a.p.Sender.Post(ctx, s.URL, s.ID+"-verification", Verification{Type: "PushVerification", SubscriptionID: s.ID, VerificationCode: s.Code})
	if err != nil {
		if derr := a.p.Registry.Delete(context.WithoutCancel(ctx), account, s.ID); derr != nil {
			return "", &jmap.SetError{Type: "serverFail", Description: derr.Error()}
		}
		return "", invalid("url", "the PushVerification could not be delivered: %v", err)
	}
	return s.ID, nil
}

// setChangeable sets expires or types, which a create and an update both
// may.
func (a *api) setChangeable(s *Subscription, k string, v json.RawMessage) *jmap.SetError {
	switch k {
	case "expires":
		var t *time.Time
		if json.Unmarshal(v, &t) != nil {
			return invalid(k, "must be null or a UTCDate such as \"2027-01-01T00:00:00Z\"")
		}
		if t != nil && !t.After(a.p.Clock.Now()) {
			return invalid(k, "%s is in the past", t.UTC().Format(time.RFC3339))
		}
		if t != nil {
			u := t.UTC()
			t = &u
		}
		s.Expires = t
	case "types":
		var ts []string
		if json.Unmarshal(v, &ts) != nil {
			return invalid(k, "must be null (every type) or a list of data types")
		}
		for _, t := range ts {
			if !slices.Contains(typeNames, t) {
				return invalid(k, "unknown data type %q (types: %s)", t, strings.Join(typeNames, ", "))
			}
		}
		if ts != nil {
			slices.Sort(ts)
			ts = slices.Compact(ts)
		}
		s.Types = ts
	}
	return nil
}

// update applies a patch: the verification code, the expiry and the
// types may change, nothing else (RFC 8620 §7.2.2).
func (a *api) update(ctx context.Context, account, id string, raw json.RawMessage) *jmap.SetError {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(raw, &patch); err != nil {
		return &jmap.SetError{Type: "invalidPatch", Description: "a patch must be an object: " + err.Error()}
	}
	var serr *jmap.SetError
	_, err := a.p.Registry.Update(ctx, account, id, func(s *Subscription) error {
		for _, k := range slices.Sorted(maps.Keys(patch)) {
			v := patch[k]
			switch k {
			case "verificationCode":
				var code string
				if json.Unmarshal(v, &code) != nil || subtle.ConstantTimeCompare([]byte(code), []byte(s.Code)) != 1 {
					serr = invalid(k, "is not the code POSTed to the subscription's URL")
					return serr
				}
				s.Verified = true
			case "expires", "types":
				if serr = a.setChangeable(s, k, v); serr != nil {
					return serr
				}
			case "deviceClientId", "url", "keys", "id", "x:failures", "x:disabled":
				serr = invalid(k, "cannot be changed: only verificationCode, expires and types can (destroy and create the subscription again)")
				return serr
			default:
				serr = invalid(k, "unknown property")
				return serr
			}
		}
		return nil
	})
	switch {
	case serr != nil:
		return serr
	case errors.Is(err, ErrNotFound):
		return &jmap.SetError{Type: "notFound", Description: fmt.Sprintf("no push subscription %s", id)}
	case err != nil:
		return &jmap.SetError{Type: "serverFail", Description: err.Error()}
	}
	return nil
}
