package adminapi

import (
	"time"

	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/mailparse"
)

// The methods of the mail store's API: accounts and domains (admin), and
// an account's mailboxes and emails (admin, or the account itself).
const (
	MethodAccountGet   = "x:Account/get"
	MethodAccountQuery = "x:Account/query"
	MethodAccountSet   = "x:Account/set"
	MethodDomainGet    = "x:Domain/get"
	MethodDomainSet    = "x:Domain/set"
	MethodMailboxGet   = "Mailbox/get"
	MethodEmailGet     = "Email/get"
	MethodEmailQuery   = "Email/query"
)

// The responses and arguments of the store's methods.
type (
	AccountGetResponse = jmap.GetResponse[Account]
	AccountQueryArgs   = jmap.QueryArgs[AccountFilter]
	AccountSetResponse = jmap.SetResponse[AccountCreated, jmap.None]
	DomainGetResponse  = jmap.GetResponse[Domain]
	DomainSetResponse  = jmap.SetResponse[DomainCreated, jmap.None]
	MailboxGetResponse = jmap.GetResponse[Mailbox]
	EmailGetResponse   = jmap.GetResponse[Email]
	EmailQueryArgs     = jmap.QueryArgs[EmailFilter]
	EmailQueryResponse = jmap.QueryResponse
)

// Account is an account as x:Account/get returns it (no secrets).
type Account struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	Domain        string    `json:"domain"`
	Tenant        string    `json:"tenant,omitempty"`
	Addresses     []string  `json:"addresses"`
	Quota         int64     `json:"quota"`
	Used          int64     `json:"used"`
	State         string    `json:"state"`
	Created       time.Time `json:"created"`
	Deleted       time.Time `json:"deleted,omitzero"`
	ArchivedUntil time.Time `json:"archivedUntil,omitzero"`
}

// AccountCreate is a new account in x:Account/set create. Secrets are
// kept hashed and never returned.
type AccountCreate struct {
	Name      string   `json:"name"`
	Type      string   `json:"type,omitempty"`
	Domain    string   `json:"domain"`
	Addresses []string `json:"addresses,omitempty"`
	Quota     int64    `json:"quota,omitempty"`
	Secrets   []string `json:"secrets,omitempty"`
}

// AccountPatch is an x:Account/set update: quota, type or secrets.
type AccountPatch struct {
	Quota   *int64   `json:"quota,omitempty"`
	Type    *string  `json:"type,omitempty"`
	Secrets []string `json:"secrets,omitempty"`
}

// AccountCreated is what x:Account/set tells of a created account.
type AccountCreated struct {
	ID string `json:"id"`
}

// AccountFilter filters x:Account/query.
type AccountFilter struct {
	Domain string `json:"domain,omitempty"`
	// Name matches a part of the login name, any case.
	Name  string `json:"name,omitempty"`
	State string `json:"state,omitempty"`
}

// Domain is a mail domain; its id is its name.
type Domain struct {
	ID      string    `json:"id"`
	Tenant  string    `json:"tenant,omitempty"`
	Created time.Time `json:"created"`
}

// DomainCreate is a new domain in x:Domain/set create.
type DomainCreate struct {
	Name   string `json:"name"`
	Tenant string `json:"tenant,omitempty"`
}

// DomainCreated is what x:Domain/set tells of a created domain.
type DomainCreated struct {
	ID string `json:"id"`
}

// Mailbox is a mailbox as Mailbox/get returns it.
type Mailbox struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     string `json:"role,omitempty"`
	ParentID string `json:"parentId,omitempty"`
}

// Email is an email as Email/get returns it (RFC 8621 names).
type Email struct {
	ID            string                 `json:"id"`
	BlobID        string                 `json:"blobId"`
	ThreadID      string                 `json:"threadId"`
	MailboxIDs    map[string]bool        `json:"mailboxIds"`
	Keywords      map[string]bool        `json:"keywords"`
	Size          int64                  `json:"size"`
	ReceivedAt    time.Time              `json:"receivedAt"`
	SentAt        time.Time              `json:"sentAt,omitzero"`
	MessageID     []string               `json:"messageId,omitempty"`
	Subject       string                 `json:"subject"`
	From          []mailparse.Address    `json:"from"`
	To            []mailparse.Address    `json:"to"`
	Cc            []mailparse.Address    `json:"cc,omitempty"`
	Preview       string                 `json:"preview"`
	HasAttachment bool                   `json:"hasAttachment"`
	Attachments   []mailparse.Attachment `json:"attachments,omitempty"`
}

// EmailFilter filters Email/query (RFC 8621 §4.4.1). InMailbox, Before and
// After are answered from the store alone; any of the full-text conditions
// (Text, From, To, Subject, Body) or HasKeyword/NotKeyword sends the query
// to the indexer node that holds the account's partition.
type EmailFilter struct {
	InMailbox  string    `json:"inMailbox,omitempty"`
	Before     time.Time `json:"before,omitzero"`
	After      time.Time `json:"after,omitzero"`
	Text       string    `json:"text,omitempty"`
	From       string    `json:"from,omitempty"`
	To         string    `json:"to,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Body       string    `json:"body,omitempty"`
	HasKeyword string    `json:"hasKeyword,omitempty"`
	NotKeyword string    `json:"notKeyword,omitempty"`
}

// FullText reports whether the filter needs the full-text index.
func (f *EmailFilter) FullText() bool {
	return f != nil && (f.Text != "" || f.From != "" || f.To != "" || f.Subject != "" || f.Body != "" || f.HasKeyword != "" || f.NotKeyword != "")
}
