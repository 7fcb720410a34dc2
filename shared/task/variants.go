package task

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jetmail/jetmail/shared/roles"
)

// Variant names a kind of task, as the "@type" of the reference.
type Variant string

// The variants of the reference.
const (
	IndexDocument             Variant = "IndexDocument"
	UnindexDocument           Variant = "UnindexDocument"
	IndexTrace                Variant = "IndexTrace"
	CalendarAlarmEmail        Variant = "CalendarAlarmEmail"
	CalendarAlarmNotification Variant = "CalendarAlarmNotification"
	CalendarItipMessage       Variant = "CalendarItipMessage"
	MergeThreads              Variant = "MergeThreads"
	DmarcReport               Variant = "DmarcReport"
	TlsReport                 Variant = "TlsReport"
	RestoreArchivedItem       Variant = "RestoreArchivedItem"
	DestroyAccount            Variant = "DestroyAccount"
	AccountMaintenance        Variant = "AccountMaintenance"
	TenantMaintenance         Variant = "TenantMaintenance"
	StoreMaintenance          Variant = "StoreMaintenance"
	SpamFilterMaintenance     Variant = "SpamFilterMaintenance"
	AcmeRenewal               Variant = "AcmeRenewal"
	DkimManagement            Variant = "DkimManagement"
	DnsManagement             Variant = "DnsManagement"
)

// Payload is a variant's own fields.
type Payload interface {
	Variant() Variant
	// check reports the payload's invalid properties.
	check() []PropertyError
}

// PropertyError names an invalid property and why.
type PropertyError struct {
	Property string
	Reason   string
}

func (e PropertyError) Error() string { return e.Property + ": " + e.Reason }

// spec is what jetmail knows of a variant.
type spec struct {
	new  func() Payload
	role roles.Role
	// key is the shard key: tasks with the same key land in the same shard.
	key func(p Payload, id string) string
	// creatable says whether users may create it through the API; the others
	// are created by the server itself (calendar, reports, threading).
	creatable bool
}

func byAccount(p Payload, _ string) string { return p.(interface{ account() string }).account() }
func byID(_ Payload, id string) string     { return id }
func byDomain(p Payload, _ string) string  { return p.(interface{ domain() string }).domain() }

var specs = map[Variant]spec{
	IndexDocument:             {func() Payload { return &IndexDocumentTask{} }, roles.FtsIndexing, byAccount, true},
	UnindexDocument:           {func() Payload { return &UnindexDocumentTask{} }, roles.FtsIndexing, byAccount, true},
	IndexTrace:                {func() Payload { return &IndexTraceTask{} }, roles.FtsIndexing, func(p Payload, _ string) string { return p.(*IndexTraceTask).TraceID }, true},
	CalendarAlarmEmail:        {func() Payload { return &CalendarAlarmEmailTask{} }, roles.CalendarAlerts, byAccount, false},
	CalendarAlarmNotification: {func() Payload { return &CalendarAlarmNotificationTask{} }, roles.CalendarAlerts, byAccount, false},
	CalendarItipMessage:       {func() Payload { return &CalendarItipMessageTask{} }, roles.ImipProcessing, byAccount, false},
	MergeThreads:              {func() Payload { return &MergeThreadsTask{} }, roles.PurgeAccounts, byAccount, false},
	DmarcReport:               {func() Payload { return &DmarcReportTask{} }, roles.MetricsPush, func(p Payload, _ string) string { return p.(*DmarcReportTask).ReportID }, false},
	TlsReport:                 {func() Payload { return &TlsReportTask{} }, roles.MetricsPush, func(p Payload, _ string) string { return p.(*TlsReportTask).ReportID }, false},
	RestoreArchivedItem:       {func() Payload { return &RestoreArchivedItemTask{} }, roles.PurgeAccounts, byAccount, true},
	DestroyAccount: {func() Payload { return &DestroyAccountTask{} }, roles.PurgeAccounts, func(p Payload, _ string) string {
		a := p.(*DestroyAccountTask)
		return a.AccountName + "@" + a.AccountDomainID
	}, true},
	AccountMaintenance:    {func() Payload { return &AccountMaintenanceTask{} }, roles.PurgeAccounts, byAccount, true},
	TenantMaintenance:     {func() Payload { return &TenantMaintenanceTask{} }, roles.PurgeAccounts, func(p Payload, _ string) string { return p.(*TenantMaintenanceTask).TenantID }, true},
	StoreMaintenance:      {func() Payload { return &StoreMaintenanceTask{} }, roles.PurgeStores, byID, true},
	SpamFilterMaintenance: {func() Payload { return &SpamFilterMaintenanceTask{} }, roles.BayesTraining, byID, true},
	AcmeRenewal:           {func() Payload { return &AcmeRenewalTask{} }, roles.AcmeRenew, byDomain, true},
	DkimManagement:        {func() Payload { return &DkimManagementTask{} }, roles.AcmeRenew, byDomain, true},
	DnsManagement:         {func() Payload { return &DnsManagementTask{} }, roles.AcmeRenew, byDomain, true},
}

// Variants lists every variant, sorted.
func Variants() []Variant {
	out := make([]Variant, 0, len(specs))
	for v := range specs {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// ParseVariant returns the variant named s.
func ParseVariant(s string) (Variant, error) {
	if _, ok := specs[Variant(s)]; ok {
		return Variant(s), nil
	}
	names := make([]string, 0, len(specs))
	for _, v := range Variants() {
		names = append(names, string(v))
	}
	return "", fmt.Errorf("unknown task type %q (types: %s)", s, strings.Join(names, ", "))
}

// New returns an empty payload of variant v.
func New(v Variant) Payload { return specs[v].new() }

// RoleOf is the role whose nodes run variant v.
func RoleOf(v Variant) roles.Role { return specs[v].role }

// Creatable reports whether users may create variant v through the API.
func Creatable(v Variant) bool { return specs[v].creatable }

// ShardKey is the key that places a task in its role's partitions.
func ShardKey(p Payload, id string) string { return specs[p.Variant()].key(p, id) }

// Common enumerations.
var (
	DocumentTypes              = []string{"email", "calendar", "contacts", "file"}
	ArchivedItemTypes          = []string{"email", "file", "calendarEvent", "contactCard", "sieveScript"}
	AccountTypes               = []string{"user", "group"}
	AccountMaintenanceTypes    = []string{"purge", "reindex", "recalculateImapUid", "recalculateQuota"}
	TenantMaintenanceTypes     = []string{"recalculateQuota"}
	StoreMaintenanceTypes      = []string{"reindexAccounts", "reindexTelemetry", "purgeData", "purgeBlob", "resetUserQuotas", "resetTenantQuotas", "resetBlobQuotas", "resetRateLimiters", "removeAuthTokens", "removeQueueLocks", "removeTaskLocks", "removeDavLocks", "removeSieveLists", "removeGreylist"}
	SpamFilterMaintenanceTypes = []string{"train", "retrain", "abort", "reset", "updateRules"}
	DnsRecordTypes             = []string{"dkim", "tlsa", "spf", "mx", "dmarc", "srv", "mtaSts", "tlsRpt", "caa", "autoconfig", "autoconfigLegacy", "autodiscover"}
)

// checker collects property errors.
type checker []PropertyError

func (c *checker) required(prop, v string) {
	if v == "" {
		*c = append(*c, PropertyError{prop, "is required"})
	}
}

func (c *checker) oneOf(prop, v string, allowed []string) {
	if v == "" {
		c.required(prop, v)
		return
	}
	if !slices.Contains(allowed, v) {
		*c = append(*c, PropertyError{prop, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))})
	}
}

func (c *checker) time(prop string, t time.Time) {
	if t.IsZero() {
		*c = append(*c, PropertyError{prop, "is required (an RFC 3339 date-time)"})
	}
}

// IndexDocumentTask indexes one document for search.
type IndexDocumentTask struct {
	AccountID    string `json:"accountId"`
	DocumentID   string `json:"documentId"`
	DocumentType string `json:"documentType"`
}

func (*IndexDocumentTask) Variant() Variant  { return IndexDocument }
func (t *IndexDocumentTask) account() string { return t.AccountID }
func (t *IndexDocumentTask) check() []PropertyError {
	var c checker
	c.required("accountId", t.AccountID)
	c.required("documentId", t.DocumentID)
	c.oneOf("documentType", t.DocumentType, DocumentTypes)
	return c
}

// UnindexDocumentTask removes one document from the search index.
type UnindexDocumentTask struct {
	AccountID    string `json:"accountId"`
	DocumentID   string `json:"documentId"`
	DocumentType string `json:"documentType"`
}

func (*UnindexDocumentTask) Variant() Variant  { return UnindexDocument }
func (t *UnindexDocumentTask) account() string { return t.AccountID }
func (t *UnindexDocumentTask) check() []PropertyError {
	var c checker
	c.required("accountId", t.AccountID)
	c.required("documentId", t.DocumentID)
	c.oneOf("documentType", t.DocumentType, DocumentTypes)
	return c
}

// IndexTraceTask indexes a telemetry trace.
type IndexTraceTask struct {
	TraceID string `json:"traceId"`
}

func (*IndexTraceTask) Variant() Variant { return IndexTrace }
func (t *IndexTraceTask) check() []PropertyError {
	var c checker
	c.required("traceId", t.TraceID)
	return c
}

// CalendarAlarmEmailTask sends the email of a calendar alarm.
type CalendarAlarmEmailTask struct {
	AccountID  string    `json:"accountId"`
	DocumentID string    `json:"documentId"`
	AlarmID    string    `json:"alarmId"`
	EventID    string    `json:"eventId"`
	EventStart time.Time `json:"eventStart"`
	EventEnd   time.Time `json:"eventEnd"`
	// EventStartTz and EventEndTz are IANA time zone ids ("Europe/Paris").
	EventStartTz string `json:"eventStartTz"`
	EventEndTz   string `json:"eventEndTz"`
}

func (*CalendarAlarmEmailTask) Variant() Variant  { return CalendarAlarmEmail }
func (t *CalendarAlarmEmailTask) account() string { return t.AccountID }
func (t *CalendarAlarmEmailTask) check() []PropertyError {
	var c checker
	c.required("accountId", t.AccountID)
	c.required("documentId", t.DocumentID)
	c.required("alarmId", t.AlarmID)
	c.required("eventId", t.EventID)
	c.time("eventStart", t.EventStart)
	c.time("eventEnd", t.EventEnd)
	for prop, tz := range map[string]string{"eventStartTz": t.EventStartTz, "eventEndTz": t.EventEndTz} {
		if tz == "" {
			c.required(prop, tz)
		} else if _, err := time.LoadLocation(tz); err != nil {
			c = append(c, PropertyError{prop, fmt.Sprintf("unknown time zone %q", tz)})
		}
	}
	slices.SortFunc(c, func(a, b PropertyError) int { return strings.Compare(a.Property, b.Property) })
	return c
}

// CalendarAlarmNotificationTask delivers the in-app notification of an alarm.
type CalendarAlarmNotificationTask struct {
	AccountID    string `json:"accountId"`
	DocumentID   string `json:"documentId"`
	AlarmID      string `json:"alarmId"`
	EventID      string `json:"eventId"`
	RecurrenceID string `json:"recurrenceId,omitempty"`
}

func (*CalendarAlarmNotificationTask) Variant() Variant  { return CalendarAlarmNotification }
func (t *CalendarAlarmNotificationTask) account() string { return t.AccountID }
func (t *CalendarAlarmNotificationTask) check() []PropertyError {
	var c checker
	c.required("accountId", t.AccountID)
	c.required("documentId", t.DocumentID)
	c.required("alarmId", t.AlarmID)
	c.required("eventId", t.EventID)
	return c
}

// ItipMessage is one recipient's iTIP payload.
type ItipMessage struct {
	Recipient string `json:"recipient"`
	// Payload is the iCalendar object (METHOD:REQUEST, REPLY, CANCEL...).
	Payload string `json:"payload"`
}

// CalendarItipMessageTask delivers iTIP messages for an event.
type CalendarItipMessageTask struct {
	AccountID  string        `json:"accountId"`
	DocumentID string        `json:"documentId"`
	Messages   []ItipMessage `json:"messages"`
}

func (*CalendarItipMessageTask) Variant() Variant  { return CalendarItipMessage }
func (t *CalendarItipMessageTask) account() string { return t.AccountID }
func (t *CalendarItipMessageTask) check() []PropertyError {
	var c checker
	c.required("accountId", t.AccountID)
	c.required("documentId", t.DocumentID)
	if len(t.Messages) == 0 {
		c = append(c, PropertyError{"messages", "must hold at least one message"})
	}
	for i, m := range t.Messages {
		c.required(fmt.Sprintf("messages/%d/recipient", i), m.Recipient)
		c.required(fmt.Sprintf("messages/%d/payload", i), m.Payload)
	}
	return c
}

// MergeThreadsTask folds messages into one thread.
type MergeThreadsTask struct {
	AccountID  string   `json:"accountId"`
	ThreadName string   `json:"threadName"`
	MessageIDs []string `json:"messageIds"`
}

func (*MergeThreadsTask) Variant() Variant  { return MergeThreads }
func (t *MergeThreadsTask) account() string { return t.AccountID }
func (t *MergeThreadsTask) check() []PropertyError {
	var c checker
	c.required("accountId", t.AccountID)
	c.required("threadName", t.ThreadName)
	if len(t.MessageIDs) == 0 {
		c = append(c, PropertyError{"messageIds", "must hold at least one message id"})
	}
	return c
}

// DmarcReportTask submits a DMARC aggregate report.
type DmarcReportTask struct {
	ReportID string `json:"reportId"`
}

func (*DmarcReportTask) Variant() Variant { return DmarcReport }
func (t *DmarcReportTask) check() []PropertyError {
	var c checker
	c.required("reportId", t.ReportID)
	return c
}

// TlsReportTask submits a TLS aggregate report.
type TlsReportTask struct {
	ReportID string `json:"reportId"`
}

func (*TlsReportTask) Variant() Variant { return TlsReport }
func (t *TlsReportTask) check() []PropertyError {
	var c checker
	c.required("reportId", t.ReportID)
	return c
}

// RestoreArchivedItemTask restores an archived item into its account.
type RestoreArchivedItemTask struct {
	AccountID        string    `json:"accountId"`
	BlobID           string    `json:"blobId"`
	ArchivedItemType string    `json:"archivedItemType"`
	CreatedAt        time.Time `json:"createdAt"`
	ArchivedUntil    time.Time `json:"archivedUntil"`
}

func (*RestoreArchivedItemTask) Variant() Variant  { return RestoreArchivedItem }
func (t *RestoreArchivedItemTask) account() string { return t.AccountID }
func (t *RestoreArchivedItemTask) check() []PropertyError {
	var c checker
	c.required("accountId", t.AccountID)
	c.oneOf("archivedItemType", t.ArchivedItemType, ArchivedItemTypes)
	c.required("blobId", t.BlobID)
	c.time("createdAt", t.CreatedAt)
	c.time("archivedUntil", t.ArchivedUntil)
	if !t.CreatedAt.IsZero() && !t.ArchivedUntil.IsZero() && !t.ArchivedUntil.After(t.CreatedAt) {
		c = append(c, PropertyError{"archivedUntil", "must be after createdAt"})
	}
	return c
}

// DestroyAccountTask deletes an account and all its data. The caller gives
// accountName and accountDomainId; accountId and accountType are resolved
// by the server (without a directory: accountId is name@domain, type user).
type DestroyAccountTask struct {
	AccountName     string `json:"accountName"`
	AccountDomainID string `json:"accountDomainId"`
	AccountID       string `json:"accountId,omitempty"`
	AccountType     string `json:"accountType,omitempty"`
}

func (*DestroyAccountTask) Variant() Variant { return DestroyAccount }
func (t *DestroyAccountTask) check() []PropertyError {
	var c checker
	c.required("accountName", t.AccountName)
	c.required("accountDomainId", t.AccountDomainID)
	if t.AccountType != "" {
		c.oneOf("accountType", t.AccountType, AccountTypes)
	}
	return c
}

func (t *DestroyAccountTask) account() string { return t.AccountID }

// AccountOf is the account a task belongs to, or "" for tasks that belong to
// none (store, spam filter, domain and report tasks).
func AccountOf(p Payload) string {
	if a, ok := p.(interface{ account() string }); ok {
		return a.account()
	}
	return ""
}

// Resolve fills the server-set fields.
func (t *DestroyAccountTask) Resolve() {
	if t.AccountID == "" {
		t.AccountID = t.AccountName + "@" + t.AccountDomainID
	}
	if t.AccountType == "" {
		t.AccountType = "user"
	}
}

// EveryAccount, as an AccountMaintenance accountId, stands for every
// account of the task's partition (x:partition): what a per-partition
// periodic task does, so that each shard of purge.accounts works on the
// accounts it owns.
const EveryAccount = "*"

// AccountMaintenanceTask runs a per-account maintenance operation: on one
// account, or with AccountID EveryAccount on each account of Partition.
type AccountMaintenanceTask struct {
	AccountID       string `json:"accountId"`
	MaintenanceType string `json:"maintenanceType"`
	// Partition is x:partition: with AccountID EveryAccount, the account
	// partition whose accounts the task works on (from 0); the task runs
	// on the shard that owns it.
	Partition *int `json:"x:partition,omitempty"`
}

func (*AccountMaintenanceTask) Variant() Variant  { return AccountMaintenance }
func (t *AccountMaintenanceTask) account() string { return t.AccountID }
func (t *AccountMaintenanceTask) check() []PropertyError {
	var c checker
	c.required("accountId", t.AccountID)
	c.oneOf("maintenanceType", t.MaintenanceType, AccountMaintenanceTypes)
	switch {
	case t.AccountID == EveryAccount && t.Partition == nil:
		c = append(c, PropertyError{"x:partition", "is required with accountId \"*\": the partition whose accounts to work on"})
	case t.AccountID != EveryAccount && t.Partition != nil:
		c = append(c, PropertyError{"x:partition", "only with accountId \"*\" (every account of the partition)"})
	case t.Partition != nil && *t.Partition < 0:
		c = append(c, PropertyError{"x:partition", "must be 0 or more"})
	}
	return c
}

// TenantMaintenanceTask runs a per-tenant maintenance operation.
type TenantMaintenanceTask struct {
	TenantID        string `json:"tenantId"`
	MaintenanceType string `json:"maintenanceType"`
}

func (*TenantMaintenanceTask) Variant() Variant { return TenantMaintenance }
func (t *TenantMaintenanceTask) check() []PropertyError {
	var c checker
	c.oneOf("maintenanceType", t.MaintenanceType, TenantMaintenanceTypes)
	c.required("tenantId", t.TenantID)
	return c
}

// StoreMaintenanceTask runs a store-wide maintenance operation; ShardIndex,
// when set, targets one shard of purge.stores (from 0).
type StoreMaintenanceTask struct {
	MaintenanceType string `json:"maintenanceType"`
	ShardIndex      *int   `json:"shardIndex,omitempty"`
}

func (*StoreMaintenanceTask) Variant() Variant { return StoreMaintenance }
func (t *StoreMaintenanceTask) check() []PropertyError {
	var c checker
	c.oneOf("maintenanceType", t.MaintenanceType, StoreMaintenanceTypes)
	if t.ShardIndex != nil && *t.ShardIndex < 0 {
		c = append(c, PropertyError{"shardIndex", "must be 0 or more"})
	}
	return c
}

// SpamFilterMaintenanceTask operates on the spam classifier.
type SpamFilterMaintenanceTask struct {
	MaintenanceType string `json:"maintenanceType"`
}

func (*SpamFilterMaintenanceTask) Variant() Variant { return SpamFilterMaintenance }
func (t *SpamFilterMaintenanceTask) check() []PropertyError {
	var c checker
	c.oneOf("maintenanceType", t.MaintenanceType, SpamFilterMaintenanceTypes)
	return c
}

// AcmeRenewalTask renews a domain's ACME certificate.
type AcmeRenewalTask struct {
	DomainID string `json:"domainId"`
}

func (*AcmeRenewalTask) Variant() Variant { return AcmeRenewal }
func (t *AcmeRenewalTask) domain() string { return t.DomainID }
func (t *AcmeRenewalTask) check() []PropertyError {
	var c checker
	c.required("domainId", t.DomainID)
	return c
}

// DkimManagementTask rotates a domain's DKIM keys.
type DkimManagementTask struct {
	DomainID string `json:"domainId"`
}

func (*DkimManagementTask) Variant() Variant { return DkimManagement }
func (t *DkimManagementTask) domain() string { return t.DomainID }
func (t *DkimManagementTask) check() []PropertyError {
	var c checker
	c.required("domainId", t.DomainID)
	return c
}

// DnsManagementTask updates DNS records of a domain.
type DnsManagementTask struct {
	DomainID string `json:"domainId"`
	// UpdateRecords is a set, written as in JMAP: {"dkim": true, "mx": true}.
	UpdateRecords             map[string]bool `json:"updateRecords"`
	OnSuccessRenewCertificate bool            `json:"onSuccessRenewCertificate"`
}

func (*DnsManagementTask) Variant() Variant { return DnsManagement }
func (t *DnsManagementTask) domain() string { return t.DomainID }
func (t *DnsManagementTask) check() []PropertyError {
	var c checker
	c.required("domainId", t.DomainID)
	if len(t.UpdateRecords) == 0 {
		c = append(c, PropertyError{"updateRecords", "must name at least one record type (" + strings.Join(DnsRecordTypes, ", ") + ")"})
	}
	keys := make([]string, 0, len(t.UpdateRecords))
	for k := range t.UpdateRecords {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(DnsRecordTypes, k) {
			c = append(c, PropertyError{"updateRecords/" + k, fmt.Sprintf("%q is not one of %s", k, strings.Join(DnsRecordTypes, ", "))})
		} else if !t.UpdateRecords[k] {
			c = append(c, PropertyError{"updateRecords/" + k, "set members are written as true"})
		}
	}
	return c
}
