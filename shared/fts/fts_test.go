package fts_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/fts"
)

var day0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func day(n int) time.Time { return day0.AddDate(0, 0, n) }

func open(t *testing.T, dir string) *fts.Index {
	t.Helper()
	ix, err := fts.Open(dir, fts.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ix.Close() })
	return ix
}

func put(t *testing.T, ix *fts.Index, docs ...fts.Doc) {
	t.Helper()
	ops := make([]fts.Op, len(docs))
	for i := range docs {
		ops[i] = fts.Op{Put: &docs[i]}
	}
	require.NoError(t, ix.Apply(context.Background(), ops))
}

func search(t *testing.T, ix *fts.Index, q fts.Query) []string {
	t.Helper()
	res, err := ix.Search(context.Background(), q)
	require.NoError(t, err)
	return res.IDs
}

// mailbox is a small account of emails, each with something to find it by.
func mailbox(account string) []fts.Doc {
	return []fts.Doc{
		{
			Account: account, Type: fts.TypeEmail, ID: "m1", Language: "en",
			Subject: "Quarterly report", From: []string{"Alice Martin <alice@example.org>"},
			To: []string{"bob@corp.example.com"}, Body: "Please find the figures of the third quarter attached.",
			AttachmentNames: []string{"q3-figures.pdf"}, Date: day(0),
			Mailboxes: []string{"inbox"}, Keywords: []string{"$seen"},
		},
		{
			Account: account, Type: fts.TypeEmail, ID: "m2", Language: "en",
			Subject: "Lunch on Friday", From: []string{"Bob Stone <bob@corp.example.com>"},
			To: []string{"Alice Martin <alice@example.org>"}, Cc: []string{"carol@example.net"},
			Body: "Shall we meet at the harbour restaurant? The walking distance is short.", Date: day(1),
			Mailboxes: []string{"inbox", "personal"}, Keywords: []string{"$Flagged"},
		},
		{
			Account: account, Type: fts.TypeEmail, ID: "m3",
			Subject: "Invoice 2025-117", From: []string{"billing@vendor.test"},
			To: []string{"alice@example.org"}, Body: "Your invoice is due. Payment by bank transfer, reference 2025-117.",
			AttachmentNames: []string{"invoice-2025-117.pdf"}, Date: day(2),
			Mailboxes: []string{"archive"}, Keywords: []string{"$seen", "$answered"},
		},
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	put(t, ix, mailbox("acct")...)

	for _, tc := range []struct {
		name string
		q    fts.Query
		want []string
	}{
		{"all, newest first", fts.Query{}, []string{"m3", "m2", "m1"}},
		{"text in subject", fts.Query{Text: "lunch"}, []string{"m2"}},
		{"text in body, stemmed", fts.Query{Text: "walk"}, []string{"m2"}},
		{"text in attachment name", fts.Query{Text: "q3"}, []string{"m1"}},
		{"text in from name", fts.Query{Text: "stone"}, []string{"m2"}},
		{"text in cc", fts.Query{Text: "carol"}, []string{"m2"}},
		{"text, all terms", fts.Query{Text: "alice invoice"}, []string{"m3"}},
		{"text, terms in different fields", fts.Query{Text: "lunch carol harbour"}, []string{"m2"}},
		{"text, a term missing", fts.Query{Text: "lunch invoice"}, nil},
		{"text, phrase", fts.Query{Text: `"bank transfer"`}, []string{"m3"}},
		{"text, phrase in wrong order", fts.Query{Text: `"transfer bank"`}, nil},
		{"text, hyphenated term is a phrase", fts.Query{Text: "2025-117"}, []string{"m3"}},
		{"from", fts.Query{From: "alice"}, []string{"m1"}},
		{"from, not to", fts.Query{From: "carol"}, nil},
		{"to", fts.Query{To: "alice@example.org"}, []string{"m3", "m2"}},
		{"subject", fts.Query{Subject: "report"}, []string{"m1"}},
		{"subject, not body", fts.Query{Subject: "figures"}, nil},
		{"body", fts.Query{Body: "figures quarter"}, []string{"m1"}},
		{"body, not subject", fts.Query{Body: "lunch"}, nil},
		{"after is inclusive", fts.Query{After: day(1)}, []string{"m3", "m2"}},
		{"before is exclusive", fts.Query{Before: day(1)}, []string{"m1"}},
		{"after and before", fts.Query{After: day(1), Before: day(2)}, []string{"m2"}},
		{"in mailbox", fts.Query{InMailbox: "inbox"}, []string{"m2", "m1"}},
		{"in mailbox, exact", fts.Query{InMailbox: "Inbox"}, nil},
		{"has keyword", fts.Query{HasKeyword: "$seen"}, []string{"m3", "m1"}},
		{"has keyword, any case", fts.Query{HasKeyword: "$flagged"}, []string{"m2"}},
		{"not keyword", fts.Query{NotKeyword: "$seen"}, []string{"m2"}},
		{"text and filters", fts.Query{Text: "alice", InMailbox: "inbox", NotKeyword: "$flagged"}, []string{"m1"}},
		{"stop word alone matches nothing", fts.Query{Text: "the"}, nil},
		{"stop word among terms is ignored", fts.Query{Text: "the harbour"}, []string{"m2"}},
		{"punctuation alone matches nothing", fts.Query{From: "<>"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.Account = "acct"
			got := search(t, ix, q)
			if tc.want == nil {
				tc.want = []string{}
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestLongTokens(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	blob := strings.Repeat("QUJD", 50)
	put(t, ix, fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "1", Body: "alpha " + blob + " omega", From: []string{blob + "@example.org"}})
	require.Equal(t, []string{"1"}, search(t, ix, fts.Query{Account: "a", Body: "alpha omega"}))
	require.Empty(t, search(t, ix, fts.Query{Account: "a", Body: blob}), "the blob is no term")
	require.Equal(t, []string{"1"}, search(t, ix, fts.Query{Account: "a", From: "example.org"}))
}

func TestOtherTypes(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	put(t, ix,
		fts.Doc{Account: "a", Type: fts.TypeCalendar, ID: "e1", Language: "en", Summary: "Board meeting",
			Description: "Budget review", Location: "Room 4", Names: []string{"Dana <dana@example.org>"}, Date: day(3)},
		fts.Doc{Account: "a", Type: fts.TypeContacts, ID: "c1", Names: []string{"Dana Smith", "dana@example.org"}},
		fts.Doc{Account: "a", Type: fts.TypeFile, ID: "f1", Names: []string{"budget-2025.xlsx"}, Body: "budget lines"},
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "m1", Subject: "Budget", From: []string{"dana@example.org"}},
	)
	require.Equal(t, []string{"e1"}, search(t, ix, fts.Query{Account: "a", Type: fts.TypeCalendar, Text: "budget"}))
	require.Equal(t, []string{"e1"}, search(t, ix, fts.Query{Account: "a", Type: fts.TypeCalendar, Subject: "meeting"}))
	require.Equal(t, []string{"e1"}, search(t, ix, fts.Query{Account: "a", Type: fts.TypeCalendar, Text: "room dana"}))
	require.Equal(t, []string{"c1"}, search(t, ix, fts.Query{Account: "a", Type: fts.TypeContacts, Text: "dana@example.org"}))
	require.Equal(t, []string{"c1"}, search(t, ix, fts.Query{Account: "a", Type: fts.TypeContacts, Text: "smith"}))
	require.Equal(t, []string{"f1"}, search(t, ix, fts.Query{Account: "a", Type: fts.TypeFile, Text: "budget"}))
	require.Equal(t, []string{"f1"}, search(t, ix, fts.Query{Account: "a", Type: fts.TypeFile, Text: "xlsx"}))
	require.Equal(t, []string{"m1"}, search(t, ix, fts.Query{Account: "a", Text: "budget"}))
}

func TestAccountIsolation(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	put(t, ix, mailbox("one")...)
	put(t, ix, mailbox("two")...)
	put(t, ix, fts.Doc{Account: "two", Type: fts.TypeEmail, ID: "only-two", Subject: "secret plans", Date: day(9)})

	require.Empty(t, search(t, ix, fts.Query{Account: "one", Text: "secret"}))
	require.Equal(t, []string{"only-two"}, search(t, ix, fts.Query{Account: "two", Text: "secret"}))
	res, err := ix.Search(context.Background(), fts.Query{Account: "one"})
	require.NoError(t, err)
	require.Equal(t, uint64(3), res.Total)
	res, err = ix.Search(context.Background(), fts.Query{Account: "two"})
	require.NoError(t, err)
	require.Equal(t, uint64(4), res.Total)
	// An account that is a prefix of another sees nothing of it.
	require.Empty(t, search(t, ix, fts.Query{Account: "tw"}))
	// The same ID in another type is another document.
	put(t, ix, fts.Doc{Account: "one", Type: fts.TypeFile, ID: "m1", Names: []string{"report.pdf"}})
	require.Equal(t, []string{"m1"}, search(t, ix, fts.Query{Account: "one", Type: fts.TypeFile}))
	require.Equal(t, []string{"m1"}, search(t, ix, fts.Query{Account: "one", Text: "quarterly"}))
}

func TestDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ix := open(t, t.TempDir())
	put(t, ix, mailbox("one")...)
	put(t, ix, mailbox("two")...)
	put(t, ix, fts.Doc{Account: "one", Type: fts.TypeContacts, ID: "c1", Names: []string{"Alice"}})

	require.NoError(t, ix.Apply(ctx, []fts.Op{{Delete: &fts.Key{Account: "one", Type: fts.TypeEmail, ID: "m2"}}}))
	require.Equal(t, []string{"m3", "m1"}, search(t, ix, fts.Query{Account: "one"}))
	require.Equal(t, []string{"m3", "m2", "m1"}, search(t, ix, fts.Query{Account: "two"}))

	// Put then delete in one batch: the last op wins.
	d := fts.Doc{Account: "one", Type: fts.TypeEmail, ID: "m9", Subject: "ephemeral"}
	require.NoError(t, ix.Apply(ctx, []fts.Op{{Put: &d}, {Delete: &fts.Key{Account: "one", Type: fts.TypeEmail, ID: "m9"}}}))
	require.Empty(t, search(t, ix, fts.Query{Account: "one", Text: "ephemeral"}))
	// Deleting what is not there is no error.
	require.NoError(t, ix.Apply(ctx, []fts.Op{{Delete: &fts.Key{Account: "one", Type: fts.TypeEmail, ID: "nope"}}}))

	n, err := ix.DeleteAccount(ctx, "one")
	require.NoError(t, err)
	require.Equal(t, 3, n) // m1, m3 and the contact
	require.Empty(t, search(t, ix, fts.Query{Account: "one"}))
	require.Empty(t, search(t, ix, fts.Query{Account: "one", Type: fts.TypeContacts}))
	require.Equal(t, []string{"m3", "m2", "m1"}, search(t, ix, fts.Query{Account: "two"}))
	count, err := ix.Count()
	require.NoError(t, err)
	require.Equal(t, uint64(3), count)

	n, err = ix.DeleteAccount(ctx, "one")
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestDeleteAccountInBatches(t *testing.T) {
	t.Parallel()
	ix, err := fts.Open(t.TempDir(), fts.Options{DeleteBatch: 7})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ix.Close() })
	var docs []fts.Doc
	for i := range 50 {
		docs = append(docs, fts.Doc{Account: "a", Type: fts.TypeEmail, ID: fmt.Sprint(i), Subject: "hello"})
	}
	put(t, ix, docs...)
	n, err := ix.DeleteAccount(context.Background(), "a")
	require.NoError(t, err)
	require.Equal(t, 50, n)
	count, err := ix.Count()
	require.NoError(t, err)
	require.Zero(t, count)
}

func TestSort(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	put(t, ix,
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "old", Subject: "garden", Body: "a garden note", Date: day(-10)},
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "new", Subject: "note", Body: "about the garden, garden and garden again", Date: day(10)},
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "mid", Subject: "other", Body: "a long text that names the garden only once among many other words of no interest", Date: day(0)},
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "undated", Subject: "garden"},
		// Past what bleve can represent: indexed as undated.
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "y3000", Subject: "garden", Date: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
	)
	q := fts.Query{Account: "a", Text: "garden"}
	require.Equal(t, []string{"new", "mid", "old", "y3000", "undated"}, search(t, ix, q))
	q.IsAscending = true
	require.Equal(t, []string{"old", "mid", "new", "undated", "y3000"}, search(t, ix, q))

	q = fts.Query{Account: "a", Body: "garden", Sort: fts.SortRelevance}
	require.Equal(t, []string{"new", "old", "mid"}, search(t, ix, q),
		"three occurrences first, one in a long body last")
	q.IsAscending = true
	require.Equal(t, []string{"mid", "old", "new"}, search(t, ix, q))
}

func TestPaging(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	var docs []fts.Doc
	for i := range 25 {
		docs = append(docs, fts.Doc{Account: "a", Type: fts.TypeEmail, ID: fmt.Sprintf("m%02d", i), Subject: "page test", Date: day(i)})
	}
	put(t, ix, docs...)
	var all []string
	for pos := 0; ; pos += 10 {
		res, err := ix.Search(context.Background(), fts.Query{Account: "a", Text: "page", Position: pos, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, uint64(25), res.Total)
		if len(res.IDs) == 0 {
			break
		}
		all = append(all, res.IDs...)
	}
	require.Len(t, all, 25)
	require.Equal(t, "m24", all[0])
	require.Equal(t, "m00", all[24])

	res, err := ix.Search(context.Background(), fts.Query{Account: "a"})
	require.NoError(t, err)
	require.Len(t, res.IDs, 25, "default limit is 50")
}

func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	ix, err := fts.Open(dir, fts.Options{})
	require.NoError(t, err)
	docs := mailbox("a")
	docs = append(docs, fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "fr", Language: "fr", Subject: "Les chevaux", Date: day(5)})
	ops := []fts.Op{{Checkpoint: []byte("seq-42")}}
	for i := range docs {
		ops = append(ops, fts.Op{Put: &docs[i]})
	}
	require.NoError(t, ix.Apply(ctx, ops))
	before := search(t, ix, fts.Query{Account: "a", Text: "alice"})
	require.NoError(t, ix.Close())

	ix = open(t, dir)
	count, err := ix.Count()
	require.NoError(t, err)
	require.Equal(t, uint64(4), count)
	require.Equal(t, before, search(t, ix, fts.Query{Account: "a", Text: "alice"}))
	// The languages present are read back: French stemming still applies.
	require.Equal(t, []string{"fr"}, search(t, ix, fts.Query{Account: "a", Text: "cheval"}))
	require.Equal(t, []string{"m2"}, search(t, ix, fts.Query{Account: "a", Text: "walking"}))
	cp, err := ix.Checkpoint()
	require.NoError(t, err)
	require.Equal(t, "seq-42", string(cp))
}

func TestOpenRefusesForeignDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stray"), []byte("x"), 0o600))
	_, err := fts.Open(dir, fts.Options{})
	require.ErrorContains(t, err, "not empty")
}

func TestLanguages(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	put(t, ix,
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "fr", Language: "fr", Subject: "Réunion",
			Body: "Les chevaux sont arrivés hier. Nous parlerons des nouvelles constructions.", Date: day(0)},
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "de", Language: "de-AT", Subject: "Besprechung",
			Body: "Die Häuser am See werden verkauft. Die Kinder lesen Zeitungen. Die Katze bleibt.", Date: day(1)},
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "en", Language: "en", Subject: "Meeting",
			Body: "The houses by the lake are sold. Die hard.", Date: day(2)},
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "xx", Language: "xx", Subject: "Unknown",
			Body: "Houses and horses, unstemmed.", Date: day(3)},
	)
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"cheval", []string{"fr"}},       // chevaux
		{"construction", []string{"fr"}}, // constructions
		{"nouvelle", []string{"fr"}},     // nouvelles
		{"haus", []string{"de"}},         // Häuser
		{"zeitung", []string{"de"}},      // Zeitungen
		{"Kind", []string{"de"}},         // Kinder
		{"house", []string{"en"}},        // houses; not the unknown language
		{"houses", []string{"xx", "en"}}, // the exact word
		{"horses", []string{"xx"}},
		// "die" is a German stop word, not an English one: the German
		// document needs only "katze", the English one both terms.
		{"die katze", []string{"de"}},
		{"die hard", []string{"en"}},
		{`"am see"`, []string{"de"}},
	} {
		require.Equal(t, tc.want, search(t, ix, fts.Query{Account: "a", Text: tc.text}), "text %q", tc.text)
	}
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	put(t, ix,
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "alice", From: []string{`"Martin, Alice" <alice.martin@mail.example.org>`}, Date: day(0)},
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "bob", From: []string{"bob@example.org"}, Date: day(1)},
		fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "other", From: []string{"alice.martin@other.test"}, Date: day(2)},
	)
	for _, tc := range []struct {
		from string
		want []string
	}{
		{"alice.martin@mail.example.org", []string{"alice"}},
		{"ALICE.MARTIN@MAIL.EXAMPLE.ORG", []string{"alice"}},
		{"<alice.martin@mail.example.org>", []string{"alice"}},
		{"alice.martin", []string{"other", "alice"}},
		{"martin", []string{"other", "alice"}},
		{"mail.example.org", []string{"alice"}},
		{"example.org", []string{"bob", "alice"}},
		{"example", []string{"bob", "alice"}},
		{"bob@example.org", []string{"bob"}},
		{"bob", []string{"bob"}},
		{"alice martin", []string{"other", "alice"}},
		{`"martin alice"`, []string{"alice"}}, // the display name, as a phrase
		{"alice@example.org", nil},
		{"alice.martin@example.org", nil},
	} {
		want := tc.want
		if want == nil {
			want = []string{}
		}
		require.Equal(t, want, search(t, ix, fts.Query{Account: "a", From: tc.from}), "from %q", tc.from)
	}
	require.Equal(t, []string{"alice"}, search(t, ix, fts.Query{Account: "a", Text: "alice.martin@mail.example.org"}))
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ix := open(t, t.TempDir())
	for _, tc := range []struct {
		q     fts.Query
		field string
	}{
		{fts.Query{}, "Query.Account"},
		{fts.Query{Account: "a", Type: "note"}, "Query.Type"},
		{fts.Query{Account: "a", Limit: 1001}, "Query.Limit"},
		{fts.Query{Account: "a", Limit: -1}, "Query.Limit"},
		{fts.Query{Account: "a", Position: -1}, "Query.Position"},
		{fts.Query{Account: "a", Sort: "size"}, "Query.Sort"},
		{fts.Query{Account: "a", Type: fts.TypeContacts, Subject: "x"}, "Query.Subject"},
		{fts.Query{Account: "a\x00b"}, "Query.Account"},
	} {
		_, err := ix.Search(ctx, tc.q)
		require.ErrorIs(t, err, fts.ErrInvalid, "%+v", tc.q)
		require.ErrorContains(t, err, tc.field)
	}
	_, err := ix.Search(ctx, fts.Query{Account: "a", Limit: 1000})
	require.NoError(t, err)

	for _, tc := range []struct {
		op    fts.Op
		field string
	}{
		{fts.Op{}, "ops[0]"},
		{fts.Op{Put: &fts.Doc{Type: fts.TypeEmail, ID: "1"}}, "ops[0].Put.Account"},
		{fts.Op{Put: &fts.Doc{Account: "a", Type: "note", ID: "1"}}, "ops[0].Put.Type"},
		{fts.Op{Put: &fts.Doc{Account: "a", Type: fts.TypeEmail}}, "ops[0].Put.ID"},
		{fts.Op{Delete: &fts.Key{Account: "a", ID: "1"}}, "ops[0].Delete.Type"},
		{fts.Op{Put: &fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "1"}, Delete: &fts.Key{}}, "ops[0]"},
	} {
		err := ix.Apply(ctx, []fts.Op{tc.op})
		require.ErrorIs(t, err, fts.ErrInvalid, "%+v", tc.op)
		require.ErrorContains(t, err, tc.field)
	}
	_, err = ix.DeleteAccount(ctx, "")
	require.ErrorIs(t, err, fts.ErrInvalid)
	require.ErrorContains(t, err, "account")

	// A batch with one bad op applies nothing.
	good := fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "1", Subject: "good"}
	err = ix.Apply(ctx, []fts.Op{{Put: &good}, {Put: &fts.Doc{Account: "a", Type: fts.TypeEmail}}})
	require.ErrorIs(t, err, fts.ErrInvalid)
	require.ErrorContains(t, err, "ops[1].Put.ID")
	count, err := ix.Count()
	require.NoError(t, err)
	require.Zero(t, count)
	require.False(t, errors.Is(ix.Apply(ctx, nil), fts.ErrInvalid))
}

func TestCanceled(t *testing.T) {
	t.Parallel()
	ix := open(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := fts.Doc{Account: "a", Type: fts.TypeEmail, ID: "1"}
	require.ErrorIs(t, ix.Apply(ctx, []fts.Op{{Put: &d}}), context.Canceled)
	_, err := ix.Search(ctx, fts.Query{Account: "a"})
	require.ErrorIs(t, err, context.Canceled)
}
