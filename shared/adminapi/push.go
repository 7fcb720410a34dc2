package adminapi

import (
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
)

// The push subscription methods (RFC 8620 §7.2). A subscription belongs to
// the account whose credentials made it; an API user with
// sysPushSubscriptionGet/Set reaches another account's by giving its
// accountId (an extension: the RFC has none).
const (
	MethodPushSubscriptionGet = "PushSubscription/get"
	MethodPushSubscriptionSet = "PushSubscription/set"
)

// The responses of the push subscription methods: /get takes jmap.GetArgs,
// /set jmap.SetArgs with PushSubscriptionCreate objects to create and
// PushSubscriptionUpdate patches.
type (
	PushSubscriptionGetResponse = jmap.GetResponse[PushSubscription]
	PushSubscriptionSetResponse = jmap.SetResponse[PushSubscriptionCreated, jmap.None]
)

// PushSubscription is a subscription as PushSubscription/get shows it. Its
// url and keys are never shown (RFC 8620 §7.2.1).
type PushSubscription struct {
	ID             string `json:"id"`
	DeviceClientID string `json:"deviceClientId"`
	// VerificationCode is the code the client echoed; null until it has,
	// and until then nothing but the PushVerification is sent.
	VerificationCode *string    `json:"verificationCode"`
	Expires          *time.Time `json:"expires"`
	// Types are the data types whose changes are pushed; null for all.
	Types []string `json:"types"`
	// Failures counts the POSTs that failed in a row (an extension).
	Failures int `json:"x:failures"`
	// Disabled says why no more is pushed to the subscription, once
	// push.max-failures POSTs failed in a row; null while it is active
	// (an extension).
	Disabled *string `json:"x:disabled"`
}

// PushSubscriptionCreate is a PushSubscription/set create.
type PushSubscriptionCreate struct {
	DeviceClientID string     `json:"deviceClientId"`
	URL            string     `json:"url"`
	Expires        *time.Time `json:"expires,omitempty"`
	Types          []string   `json:"types,omitempty"`
}

// PushSubscriptionCreated is what PushSubscription/set tells of a created
// subscription: its id (the server keeps the expiry it was given).
type PushSubscriptionCreated struct {
	ID string `json:"id"`
}
