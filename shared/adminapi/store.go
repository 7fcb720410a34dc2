package adminapi

import (
	"encoding/json"
	"strings"
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
	MethodDomainQuery  = "x:Domain/query"
	MethodTenantGet    = "x:Tenant/get"
	MethodTenantQuery  = "x:Tenant/query"
	MethodTenantSet    = "x:Tenant/set"
	MethodMailboxGet   = "Mailbox/get"
	MethodMailboxSet   = "Mailbox/set"
	MethodEmailGet     = "Email/get"
	MethodEmailQuery   = "Email/query"
	MethodEmailSet     = "Email/set"
	MethodEmailImport  = "Email/import"
)

// The responses and arguments of the store's methods.
type (
	AccountGetResponse = jmap.GetResponse[Account]
	AccountQueryArgs   = jmap.QueryArgs[AccountFilter]
	AccountSetResponse = jmap.SetResponse[AccountCreated, jmap.None]
	DomainGetResponse  = jmap.GetResponse[Domain]
	DomainSetResponse  = jmap.SetResponse[DomainCreated, jmap.None]
	DomainQueryArgs    = jmap.QueryArgs[DomainFilter]
	TenantGetResponse  = jmap.GetResponse[Tenant]
	TenantQueryArgs    = jmap.QueryArgs[TenantFilter]
	TenantSetResponse  = jmap.SetResponse[TenantCreated, jmap.None]
	MailboxGetResponse = jmap.GetResponse[Mailbox]
	MailboxSetResponse = jmap.SetResponse[MailboxCreated, jmap.None]
	EmailGetResponse   = jmap.GetResponse[Email]
	EmailQueryArgs     = jmap.QueryArgs[EmailFilter]
	EmailQueryResponse = jmap.QueryResponse
	EmailSetResponse   = jmap.SetResponse[jmap.None, jmap.None]
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

// DomainFilter filters x:Domain/query.
type DomainFilter struct {
	// Tenant keeps the domains of that tenant id.
	Tenant string `json:"tenant,omitempty"`
	// Name matches a part of the domain name, any case.
	Name string `json:"name,omitempty"`
}

// Tenant groups domains and accounts under one quota, as x:Tenant/get
// returns it. Used is the bytes its accounts use.
type Tenant struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Quota   int64     `json:"quota"`
	Used    int64     `json:"used"`
	Created time.Time `json:"created"`
}

// TenantCreate is a new tenant in x:Tenant/set create; quota in bytes, 0
// for none.
type TenantCreate struct {
	Name  string `json:"name"`
	Quota int64  `json:"quota,omitempty"`
}

// TenantPatch is an x:Tenant/set update: name or quota.
type TenantPatch struct {
	Name  *string `json:"name,omitempty"`
	Quota *int64  `json:"quota,omitempty"`
}

// TenantCreated is what x:Tenant/set tells of a created tenant.
type TenantCreated struct {
	ID string `json:"id"`
}

// TenantFilter filters x:Tenant/query.
type TenantFilter struct {
	// Name matches a part of the tenant's name, any case.
	Name string `json:"name,omitempty"`
}

// Mailbox is a mailbox as Mailbox/get returns it.
type Mailbox struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     string `json:"role,omitempty"`
	ParentID string `json:"parentId,omitempty"`
}

// MailboxCreate is a new mailbox in Mailbox/set create: a name, unique
// among its siblings, and the parent's id ("" for the top; "#<creation
// id>" for one created in the same call).
type MailboxCreate struct {
	Name     string `json:"name"`
	ParentID string `json:"parentId,omitempty"`
}

// MailboxCreated is what Mailbox/set tells of a created mailbox.
type MailboxCreated struct {
	ID string `json:"id"`
}

// MailboxSetArgs are Mailbox/set's arguments (RFC 8621 2.5): updates are
// {"name": ...} and {"parentId": id or null}. OnDestroyRemoveEmails lets
// a mailbox that holds emails be destroyed: they leave it, and those in
// no other mailbox are destroyed too. Default false: such a mailbox is
// refused with mailboxHasEmail.
type MailboxSetArgs struct {
	jmap.SetArgs
	OnDestroyRemoveEmails bool `json:"onDestroyRemoveEmails,omitempty"`
}

// EmailImport is one message of Email/import (RFC 8621 4.8): an uploaded
// blob, the mailboxes it goes in (one at least), its keywords and when it
// was received (default now).
type EmailImport struct {
	BlobID     string          `json:"blobId"`
	MailboxIDs map[string]bool `json:"mailboxIds"`
	Keywords   map[string]bool `json:"keywords,omitempty"`
	ReceivedAt time.Time       `json:"receivedAt,omitzero"`
}

// EmailImportArgs are Email/import's arguments: the messages by creation
// id, each an EmailImport (kept raw, so that each one's problems are its
// own SetError).
type EmailImportArgs struct {
	AccountID *string                    `json:"accountId,omitempty"`
	IfInState *string                    `json:"ifInState,omitempty"`
	Emails    map[string]json.RawMessage `json:"emails"`
}

// EmailImportResponse is Email/import's response (RFC 8621 4.8). A
// message the account has already (the same blob imported before) is
// notCreated with alreadyExists and its existingId.
type EmailImportResponse struct {
	AccountID  *string                   `json:"accountId"`
	OldState   string                    `json:"oldState"`
	NewState   string                    `json:"newState"`
	Created    map[string]EmailImported  `json:"created"`
	NotCreated map[string]*jmap.SetError `json:"notCreated"`
}

// EmailPatch builds an Email/set update (RFC 8620 patch paths): moving it
// to mailboxes (replacing those it is in), and adding and removing
// keywords.
func EmailPatch(mailboxes, addKeywords, removeKeywords []string) jmap.PatchObject {
	p := jmap.PatchObject{}
	if len(mailboxes) > 0 {
		in := map[string]bool{}
		for _, m := range mailboxes {
			in[m] = true
		}
		_ = p.Set("mailboxIds", in)
	}
	esc := strings.NewReplacer("~", "~0", "/", "~1") // RFC 6901
	for _, k := range addKeywords {
		_ = p.Set("keywords/"+esc.Replace(k), true)
	}
	for _, k := range removeKeywords {
		p["keywords/"+esc.Replace(k)] = json.RawMessage("null")
	}
	return p
}

// EmailImported is what Email/import tells of an imported message.
type EmailImported struct {
	ID       string `json:"id"`
	BlobID   string `json:"blobId"`
	ThreadID string `json:"threadId"`
	Size     int64  `json:"size"`
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
