package task

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/roles"
)

// The reference's example is accepted as written.
const referenceSettings = `{
"maxAttempts": 5,
"strategy": {
"@type": "ExponentialBackoff",
"factor": 2.0,
"initialDelay": "1m",
"maxDelay": "30m",
"jitter": true
},
"totalDeadline": "6h"
}`

func TestReferenceSettingsExample(t *testing.T) {
	t.Parallel()
	s, errs := ApplySettings(DefaultSettings, json.RawMessage(referenceSettings))
	require.Empty(t, errs)
	require.Equal(t, Settings{MaxAttempts: 5, TotalDeadline: 6 * time.Hour,
		Strategy: Strategy{Type: ExponentialBackoff, Factor: 2, InitialDelay: time.Minute, MaxDelay: 30 * time.Minute, Jitter: true}}, s)
	out, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"singleton","maxAttempts":5,"strategy":{"@type":"ExponentialBackoff","factor":2,"initialDelay":"1m","maxDelay":"30m","jitter":true},"totalDeadline":"6h"}`, string(out))
	var back Settings
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, s, back)
}

func TestSettingsPatches(t *testing.T) {
	t.Parallel()
	s, errs := ApplySettings(DefaultSettings, json.RawMessage(`{"strategy": {"@type": "FixedDelay", "delay": "5m"}}`))
	require.Empty(t, errs)
	require.Equal(t, Strategy{Type: FixedDelay, Delay: 5 * time.Minute}, s.Strategy)
	require.Equal(t, 3, s.MaxAttempts)
	s, errs = ApplySettings(DefaultSettings, json.RawMessage(`{"strategy/initialDelay": "10s", "maxAttempts": 7}`))
	require.Empty(t, errs)
	require.Equal(t, 10*time.Second, s.Strategy.InitialDelay)
	require.Equal(t, 7, s.MaxAttempts)
}

func TestSettingsRefused(t *testing.T) {
	t.Parallel()
	for patch, want := range map[string][]PropertyError{
		`{"maxAttempts": 0}`:                                                {{"maxAttempts", "must be at least 1, got 0"}},
		`{"maxAttempts": 2.5}`:                                              {{"maxAttempts", "must be a whole number, got 2.5"}},
		`{"maxAttempts": "3"}`:                                              {{"maxAttempts", `must be a whole number, got "3"`}},
		`{"totalDeadline": "-1h"}`:                                          {{"totalDeadline", `duration "-1h" is negative`}},
		`{"strategy/initialDelay": "-1m"}`:                                  {{"strategy/initialDelay", `duration "-1m" is negative`}},
		`{"strategy": {"@type": "Linear", "delay": "1m"}}`:                  {{"strategy/@type", `unknown strategy "Linear": use ExponentialBackoff or FixedDelay`}},
		`{"strategy": {"@type": "FixedDelay"}}`:                             {{"strategy/delay", `must be a duration string such as "1m" or "6h", got nothing`}},
		`{"strategy": {"@type": "FixedDelay", "delay": "1m", "factor": 2}}`: {{"strategy/factor", "is not a property of FixedDelay (delay)"}},
		`{"strategy/factor": 0.5}`:                                          {{"strategy/factor", "must be at least 1, got 0.5"}},
		`{"strategy/maxDelay": "10s"}`:                                      {{"strategy/maxDelay", "must not be shorter than initialDelay"}},
		`{"retries": 3}`:                                                    {{"retries", "is not a property of TaskManager (maxAttempts, strategy, totalDeadline)"}},
		`[1]`:                                                               {{"", "the update must be a JSON object of properties"}},
	} {
		_, errs := ApplySettings(DefaultSettings, json.RawMessage(patch))
		require.Equal(t, want, errs, patch)
	}
}

func TestExponentialBackoff(t *testing.T) {
	t.Parallel()
	s := Settings{MaxAttempts: 10, TotalDeadline: 24 * time.Hour,
		Strategy: Strategy{Type: ExponentialBackoff, Factor: 2, InitialDelay: time.Minute, MaxDelay: 10 * time.Minute}}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, s.Delay(n, nil))
	}
	require.Equal(t, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}, got)

	s.Strategy.Jitter = true
	require.Equal(t, 2*time.Minute, s.Delay(3, func() float64 { return 0 }), "jitter's floor is half the delay")
	require.Equal(t, 3*time.Minute, s.Delay(3, func() float64 { return 0.5 }))
	require.Less(t, s.Delay(3, func() float64 { return 0.999999 }), 4*time.Minute)
}

func TestFixedDelay(t *testing.T) {
	t.Parallel()
	s := Settings{MaxAttempts: 3, TotalDeadline: time.Hour, Strategy: Strategy{Type: FixedDelay, Delay: 5 * time.Minute}}
	for n := 1; n <= 3; n++ {
		require.Equal(t, 5*time.Minute, s.Delay(n, nil))
	}
}

// Walks a task through its statuses on a fake clock.
func TestAfterFailure(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := Settings{MaxAttempts: 3, TotalDeadline: 6 * time.Hour,
		Strategy: Strategy{Type: ExponentialBackoff, Factor: 2, InitialDelay: time.Minute, MaxDelay: time.Hour}}
	tk := &Task{ActiveSince: clk.Now()}

	st := s.AfterFailure(tk, 1, clk.Now(), "boom 1", nil)
	require.Equal(t, Status{Type: Retry, Due: clk.Now().Add(time.Minute), AttemptNumber: 1, FailureReason: "boom 1"}, st)
	clk.Advance(time.Minute)
	st = s.AfterFailure(tk, 2, clk.Now(), "boom 2", nil)
	require.Equal(t, Status{Type: Retry, Due: clk.Now().Add(2 * time.Minute), AttemptNumber: 2, FailureReason: "boom 2"}, st)
	clk.Advance(2 * time.Minute)
	st = s.AfterFailure(tk, 3, clk.Now(), "boom 3", nil)
	require.Equal(t, Status{Type: Failed, FailedAt: clk.Now(), FailedAttemptNumber: 3, FailureReason: "boom 3"}, st)

	// The total deadline ends retries early: with 6h budget and a 4h delay
	// after attempt 2 that starts 3h in, the retry would come too late.
	s = Settings{MaxAttempts: 10, TotalDeadline: 6 * time.Hour, Strategy: Strategy{Type: FixedDelay, Delay: 4 * time.Hour}}
	tk = &Task{ActiveSince: clk.Now()}
	require.Equal(t, Retry, s.AfterFailure(tk, 1, clk.Now(), "x", nil).Type)
	clk.Advance(3 * time.Hour)
	st = s.AfterFailure(tk, 2, clk.Now(), "late", nil)
	require.Equal(t, Failed, st.Type)
	require.Equal(t, 2, st.FailedAttemptNumber)
	require.Equal(t, 1, Settings{MaxAttempts: 1, TotalDeadline: time.Hour, Strategy: s.Strategy}.AfterFailure(tk, 1, clk.Now(), "x", nil).FailedAttemptNumber)
}

func TestDecodeCreate(t *testing.T) {
	t.Parallel()
	p, due, errs := DecodeCreate(json.RawMessage(`{"@type":"IndexDocument","accountId":"a1","documentId":"d1","documentType":"email"}`))
	require.Empty(t, errs)
	require.Nil(t, due)
	require.Equal(t, &IndexDocumentTask{AccountID: "a1", DocumentID: "d1", DocumentType: "email"}, p)
	require.Equal(t, roles.FtsIndexing, RoleOf(p.Variant()))
	require.Equal(t, "a1", ShardKey(p, "t1"))

	p, due, errs = DecodeCreate(json.RawMessage(`{"@type":"StoreMaintenance","maintenanceType":"purgeData","shardIndex":1,"status":{"@type":"Pending","due":"2030-01-01T00:00:00Z"}}`))
	require.Empty(t, errs)
	require.Equal(t, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), *due)
	require.Equal(t, 1, *p.(*StoreMaintenanceTask).ShardIndex)

	p, _, errs = DecodeCreate(json.RawMessage(`{"@type":"DestroyAccount","accountName":"bob","accountDomainId":"example.org"}`))
	require.Empty(t, errs)
	require.Equal(t, "bob@example.org", p.(*DestroyAccountTask).AccountID)

	for doc, want := range map[string][]PropertyError{
		`{"accountId":"a"}`:   {{"@type", `is required: the task's type, such as "IndexDocument"`}},
		`{"@type":"Reindex"}`: {{"@type", `unknown task type "Reindex" (types: AccountMaintenance, AcmeRenewal, CalendarAlarmEmail, CalendarAlarmNotification, CalendarItipMessage, DestroyAccount, DkimManagement, DmarcReport, DnsManagement, IndexDocument, IndexTrace, MergeThreads, RestoreArchivedItem, SpamFilterMaintenance, StoreMaintenance, TenantMaintenance, TlsReport, UnindexDocument)`}},
		`{"@type":"IndexDocument","accountId":"a","documentId":"d","documentType":"video"}`:                                                                                 {{"documentType", `"video" is not one of email, calendar, contacts, file`}},
		`{"@type":"IndexDocument","accountId":7,"documentId":"d","documentType":"email"}`:                                                                                   {{"accountId", "must be a string, got a JSON number"}},
		`{"@type":"IndexDocument","documentType":"email"}`:                                                                                                                  {{"accountId", "is required"}, {"documentId", "is required"}},
		`{"@type":"IndexTrace","traceId":"t","color":"red"}`:                                                                                                                {{"color", "is not a property of this type"}},
		`{"@type":"IndexTrace","traceId":"t","id":"mine"}`:                                                                                                                  {{"id", "is set by the server"}},
		`{"@type":"IndexTrace","traceId":"t","status":{"@type":"Failed"}}`:                                                                                                  {{"status/@type", "a new task's status must be Pending"}},
		`{"@type":"IndexTrace","traceId":"t","status":{"@type":"Pending","due":"tomorrow"}}`:                                                                                {{"status/due", `bad date-time "tomorrow": use RFC 3339, such as 2026-01-02T15:04:05Z`}},
		`{"@type":"DnsManagement","domainId":"d","updateRecords":{"mx":true,"aaaa":true}}`:                                                                                  {{"updateRecords/aaaa", `"aaaa" is not one of dkim, tlsa, spf, mx, dmarc, srv, mtaSts, tlsRpt, caa, autoconfig, autoconfigLegacy, autodiscover`}},
		`{"@type":"StoreMaintenance","maintenanceType":"purgeData","shardIndex":"one"}`:                                                                                     {{"shardIndex", "must be a number, got a JSON string"}},
		`{"@type":"RestoreArchivedItem","accountId":"a","blobId":"b","archivedItemType":"email","createdAt":"2026-01-02T00:00:00Z","archivedUntil":"2026-01-01T00:00:00Z"}`: {{"archivedUntil", "must be after createdAt"}},
		`{"@type":"AccountMaintenance","accountId":"*","maintenanceType":"purge"}`:                                                                                          {{"x:partition", `is required with accountId "*": the partition whose accounts to work on`}},
		`{"@type":"AccountMaintenance","accountId":"a","maintenanceType":"purge","x:partition":1}`:                                                                          {{"x:partition", `only with accountId "*" (every account of the partition)`}},
		`{"@type":"AccountMaintenance","accountId":"*","maintenanceType":"purge","x:partition":-1}`:                                                                         {{"x:partition", "must be 0 or more"}},
		`[]`: {{"", "a task must be a JSON object"}},
	} {
		_, _, errs := DecodeCreate(json.RawMessage(doc))
		require.Equal(t, want, errs, doc)
	}
}

// Every variant survives the store's encoding.
func TestEncodeDecodeEveryVariant(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	two := 2
	payloads := []Payload{
		&IndexDocumentTask{"a", "d", "email"}, &UnindexDocumentTask{"a", "d", "file"}, &IndexTraceTask{"tr"},
		&CalendarAlarmEmailTask{"a", "d", "al", "ev", now, now.Add(time.Hour), "Europe/Paris", "UTC"},
		&CalendarAlarmNotificationTask{"a", "d", "al", "ev", "r1"},
		&CalendarItipMessageTask{"a", "d", []ItipMessage{{"x@y", "BEGIN:VCALENDAR"}}},
		&MergeThreadsTask{"a", "t", []string{"m1", "m2"}}, &DmarcReportTask{"r"}, &TlsReportTask{"r"},
		&RestoreArchivedItemTask{"a", "b", "email", now, now.Add(time.Hour)},
		&DestroyAccountTask{"bob", "example.org", "bob@example.org", "user"},
		&AccountMaintenanceTask{"a", "purge", nil}, &AccountMaintenanceTask{EveryAccount, "purge", &two}, &TenantMaintenanceTask{"t", "recalculateQuota"},
		&StoreMaintenanceTask{"purgeBlob", &two}, &SpamFilterMaintenanceTask{"train"},
		&AcmeRenewalTask{"d"}, &DkimManagementTask{"d"}, &DnsManagementTask{"d", map[string]bool{"mx": true}, true},
	}
	require.Len(t, payloads, 19)
	seen := map[Variant]bool{}
	for _, p := range payloads {
		require.NoError(t, Check(p), p.Variant())
		tk := &Task{ID: "t-" + string(p.Variant()), Payload: p, CreatedAt: now, ActiveSince: now,
			Status: Status{Type: Retry, Due: now, AttemptNumber: 1, FailureReason: "x"}}
		data, err := tk.Encode()
		require.NoError(t, err)
		pub, err := tk.MarshalJSON()
		require.NoError(t, err)
		want, err := json.Marshal(stored{Task: pub, CreatedAt: tk.CreatedAt, ActiveSince: tk.ActiveSince})
		require.NoError(t, err)
		require.Equal(t, string(want), string(data), "Encode writes what json.Marshal of the stored form would")
		back, err := Decode(data)
		require.NoError(t, err)
		require.Equal(t, tk, back, p.Variant())
		fast, ok := decodeFast(data)
		require.True(t, ok, "Encode's form takes the short path: %s", data)
		slow, err := decodeSlow(data)
		require.NoError(t, err)
		require.Equal(t, slow, fast, p.Variant())
		seen[p.Variant()] = true
	}
	require.Len(t, seen, 18)
	require.Len(t, withStatus, 18, "every variant takes the short path")
}

func TestFromFields(t *testing.T) {
	t.Parallel()
	raw, err := FromFields(DnsManagement, map[string][]string{"domainId": {"example.org"}, "updateRecords": {"mx, dkim", "tlsa"}, "onSuccessRenewCertificate": {"true"}})
	require.NoError(t, err)
	p, _, errs := DecodeCreate(raw)
	require.Empty(t, errs)
	require.Equal(t, &DnsManagementTask{DomainID: "example.org", UpdateRecords: map[string]bool{"mx": true, "dkim": true, "tlsa": true}, OnSuccessRenewCertificate: true}, p, "a set given twice holds both")
	_, err = FromFields(DnsManagement, map[string][]string{"domainId": {"example.org", "example.com"}})
	require.EqualError(t, err, "domainId: given 2 times (example.org, example.com); it takes one value")

	raw, err = FromFields(StoreMaintenance, map[string][]string{"maintenanceType": {"purgeData"}, "shardIndex": {"2"}})
	require.NoError(t, err)
	p, _, errs = DecodeCreate(raw)
	require.Empty(t, errs)
	require.Equal(t, 2, *p.(*StoreMaintenanceTask).ShardIndex)

	_, err = FromFields(StoreMaintenance, map[string][]string{"shardIndex": {"two"}})
	require.EqualError(t, err, `shardIndex: "two" is not a whole number`)
	raw, err = FromFields(IndexDocument, map[string][]string{"accountId": {"42"}, "documentId": {"7"}, "documentType": {"email"}, "colour": {"red"}})
	require.NoError(t, err)
	_, _, errs = DecodeCreate(raw)
	require.Equal(t, []PropertyError{{"colour", "is not a property of this type"}}, errs)
	require.Equal(t, []string{"accountId", "documentId", "documentType"}, FieldNames(IndexDocument))
}

// MarshalJSON puts "@type", "id" and "status" in front of a variant's own
// fields without checking them: no variant may have fields of those names.
func TestNoVariantShadowsTheCommonFields(t *testing.T) {
	t.Parallel()
	for _, v := range Variants() {
		fields, err := json.Marshal(specs[v].new())
		require.NoError(t, err)
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(fields, &m))
		for _, k := range []string{"@type", "id", "status"} {
			require.NotContains(t, m, k, "variant %s", v)
		}
		tk := &Task{ID: "t1", Payload: specs[v].new(), Status: Status{Type: Pending}}
		data, err := tk.MarshalJSON()
		require.NoError(t, err)
		require.True(t, json.Valid(data), "variant %s: %s", v, data)
	}
}

// Stored forms other than Encode's (another key order, spaces, escapes, a
// variant's own createdAt) are read as before, with the same result.
func TestDecodeOtherForms(t *testing.T) {
	t.Parallel()
	at := `"2026-03-01T10:00:00Z"`
	for name, data := range map[string]string{
		"encoded":      `{"task":{"@type":"IndexTrace","id":"t1","status":{"@type":"Pending","due":` + at + `},"traceId":"x"},"createdAt":` + at + `,"activeSince":` + at + `}`,
		"order":        `{"createdAt":` + at + `,"activeSince":` + at + `,"task":{"@type":"IndexTrace","id":"t1","status":{"@type":"Pending","due":` + at + `},"traceId":"x"}}`,
		"spaces":       `{ "task": {"@type": "IndexTrace", "id": "t1", "status": {"@type": "Pending", "due": ` + at + `}, "traceId": "x"}, "createdAt": ` + at + `, "activeSince": ` + at + ` }`,
		"escaped":      `{"task":{"@type":"IndexTrace","id":"t\u0031","status":{"@type":"Pending","due":` + at + `},"traceId":"x"},"createdAt":` + at + `,"activeSince":` + at + `}`,
		"fields first": `{"task":{"traceId":"x","@type":"IndexTrace","id":"t1","status":{"@type":"Pending","due":` + at + `}},"createdAt":` + at + `,"activeSince":` + at + `}`,
	} {
		got, err := Decode([]byte(data))
		require.NoError(t, err, name)
		require.Equal(t, "t1", got.ID, name)
		require.Equal(t, &IndexTraceTask{TraceID: "x"}, got.Payload, name)
		require.Equal(t, Pending, got.Status.Type, name)
		require.Equal(t, "2026-03-01T10:00:00Z", got.CreatedAt.Format(time.RFC3339), name)
		require.Equal(t, got.CreatedAt, got.ActiveSince, name)
	}
	// A variant's own createdAt does not end the task object early.
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tk := &Task{ID: "r1", Payload: &RestoreArchivedItemTask{"a", "b", "email", now.Add(-time.Hour), now.Add(time.Hour)},
		CreatedAt: now, ActiveSince: now, Status: Status{Type: Failed, FailedAt: now, FailedAttemptNumber: 3, FailureReason: `boom "quoted" {brace}, \ "createdAt":`}}
	data, err := tk.Encode()
	require.NoError(t, err)
	back, err := Decode(data)
	require.NoError(t, err)
	require.Equal(t, tk, back)
	_, err = Decode([]byte(`{"task":{"@type":"Nope","id":"t1","status":{"@type":"Pending"}},"createdAt":` + at + `,"activeSince":` + at + `}`))
	require.ErrorContains(t, err, `unknown type "Nope"`)
}

func BenchmarkDecode(b *testing.B) {
	now := time.Now().UTC()
	tk := &Task{ID: "IbJDHqLRdBBTBV2uUdWzJH", Payload: &IndexTraceTask{TraceID: "t12345"}, CreatedAt: now, ActiveSince: now,
		Status: Status{Type: Pending, Due: now}}
	data, err := tk.Encode()
	require.NoError(b, err)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, ok := decodeFast(data); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("slow", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeSlow(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
