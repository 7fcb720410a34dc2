package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/store"
)

// importBatch is how many messages one Email/import call takes by
// default.
const importBatch = 100

func importCommand() *cli.Command {
	return &cli.Command{
		Name:  "import",
		Usage: "bring mail into the store in bulk",
		Subcommands: []*cli.Command{{
			Name:      "mbox",
			Usage:     "import an mbox file's messages into an account's mailbox",
			ArgsUsage: "FILE ACCOUNT",
			Description: `Streams FILE (an mbox file, RFC 4155; - for standard input), uploads each
message to ACCOUNT (a login name or account id) and imports it with
Email/import, --batch messages per call. Each message is threaded and
charged to the account's quota as delivered mail is.

A message imported before (the same bytes) is skipped, so an import that
stopped half-way can be run again. Progress (messages, rate, skipped,
failed) goes to standard error. The exit code is 1 when a message failed;
each failure is named by its place in the file, its line and its
Message-ID.

Examples:
   jetmail import mbox ~/mail/archive.mbox fred
   jetmail import mbox old.mbox fred --mailbox Archive --keyword '$seen'
   zcat 2025.mbox.gz | jetmail import mbox - fred --mailbox "Old mail" --batch 500`,
			Flags: append(apiFlags(),
				&cli.StringFlag{Name: "mailbox", Value: "Inbox", Usage: "the `MAILBOX` (name or id) the messages go into"},
				&cli.StringSliceFlag{Name: "keyword", Usage: "a `KEYWORD` every message gets ($seen, $flagged, ...); repeat for several"},
				&cli.IntFlag{Name: "batch", Value: importBatch, Usage: "`N` messages per Email/import call (1 to 1000)"},
			),
			Action: importMbox,
		}},
	}
}

// failedMessage is a message that was not imported, and why.
type failedMessage struct {
	msg *mboxMessage
	why string
}

func importMbox(c *cli.Context) error {
	args, err := positional(c)
	if err != nil {
		return err
	}
	if len(args) != 2 {
		return cli.Exit("give FILE and ACCOUNT (see --help)", ExitUsage)
	}
	batch := c.Int("batch")
	if batch < 1 || batch > jmap.MaxObjectsInSet {
		return cli.Exit(fmt.Sprintf("--batch %d: from 1 to %d", batch, jmap.MaxObjectsInSet), ExitUsage)
	}
	cl, err := apiClient(c)
	if err != nil {
		return err
	}
	acc, err := findAccount(c.Context, cl, args[1])
	if err != nil {
		return err
	}
	box, err := findMailbox(c.Context, cl, acc, c.String("mailbox"))
	if err != nil {
		return err
	}
	keywords := map[string]bool{}
	for _, k := range c.StringSlice("keyword") {
		keywords[k] = true
	}
	var in io.Reader = os.Stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
		defer f.Close()
		in = f
	}
	imp := &importer{c: c, cl: cl, account: acc.ID, mailbox: box, keywords: keywords,
		pr: newProgress(c.App.ErrWriter, "imported", 0)}
	r := newMboxReader(in, store.MaxSizeUpload)
	var pending []*mboxMessage
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			imp.pr.counts(imp.done, imp.skipped, len(imp.failed), true)
			return cli.Exit(fmt.Sprintf("%s: %v (%d message(s) imported before it)", args[0], err, imp.done), ExitFailure)
		}
		if pending = append(pending, m); len(pending) == batch {
			if err := imp.send(pending); err != nil {
				return err
			}
			pending = pending[:0]
		}
	}
	if err := imp.send(pending); err != nil {
		return err
	}
	imp.pr.counts(imp.done, imp.skipped, len(imp.failed), true)
	if r.n == 0 {
		fmt.Fprintf(c.App.ErrWriter, "%s holds no message\n", args[0])
	}
	sort.Slice(imp.failed, func(i, j int) bool { return imp.failed[i].msg.N < imp.failed[j].msg.N })
	for _, f := range imp.failed {
		fmt.Fprintf(c.App.ErrWriter, "message %d (line %d%s): %s\n", f.msg.N, f.msg.Line, messageID(f.msg), f.why)
	}
	if len(imp.failed) > 0 {
		return cli.Exit(fmt.Sprintf("%d of %d message(s) not imported", len(imp.failed), r.n), ExitFailure)
	}
	return nil
}

// importer uploads and imports batches of messages, counting them.
type importer struct {
	c        *cli.Context
	cl       *jmap.Client
	account  string
	mailbox  string
	keywords map[string]bool
	pr       *progress

	done, skipped int
	failed        []failedMessage
}

// send imports one batch. A failure of one message is counted; a failure
// that every message would meet (credentials, the account) ends the run.
func (imp *importer) send(batch []*mboxMessage) error {
	if len(batch) == 0 {
		return nil
	}
	ctx := imp.c.Context
	emails := map[string]json.RawMessage{}
	byID := map[string]*mboxMessage{}
	for _, m := range batch {
		if m.TooLarge {
			imp.failed = append(imp.failed, failedMessage{m, fmt.Sprintf("%d bytes; at most %d (maxSizeUpload)", m.Size, store.MaxSizeUpload)})
			continue
		}
		up, err := imp.cl.Upload(ctx, imp.account, "message/rfc822", bytes.NewReader(m.Raw))
		if err != nil {
			var p *jmap.Problem
			if errors.As(err, &p) && (p.Status == http.StatusUnauthorized || p.Status == http.StatusForbidden || p.Status == http.StatusNotFound) {
				return apiError(err)
			}
			imp.failed = append(imp.failed, failedMessage{m, "upload: " + err.Error()})
			continue
		}
		cid := strconv.Itoa(m.N)
		byID[cid] = m
		emails[cid] = mustJSON(adminapi.EmailImport{BlobID: up.BlobID, MailboxIDs: map[string]bool{imp.mailbox: true}, Keywords: imp.keywords})
	}
	if len(emails) > 0 {
		var r adminapi.EmailImportResponse
		if err := imp.cl.Call(ctx, adminapi.MethodEmailImport, adminapi.EmailImportArgs{AccountID: &imp.account, Emails: emails}, &r); err != nil {
			return apiError(err)
		}
		imp.done += len(r.Created)
		for cid, e := range r.NotCreated {
			if e.Type == "alreadyExists" {
				imp.skipped++
				continue
			}
			imp.failed = append(imp.failed, failedMessage{byID[cid], e.Error()})
		}
	}
	imp.pr.counts(imp.done, imp.skipped, len(imp.failed), false)
	return nil
}

// messageID names a message by its Message-ID, if it has one.
func messageID(m *mboxMessage) string {
	if m.Raw == nil {
		return ", From " + m.From
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil || msg.Header.Get("Message-Id") == "" {
		return ", From " + m.From
	}
	return ", Message-ID " + msg.Header.Get("Message-Id")
}

// findMailbox finds an account's mailbox by id or, in any case, by name;
// a name that several mailboxes have must be given as an id.
func findMailbox(ctx context.Context, cl *jmap.Client, acc *adminapi.Account, ref string) (string, error) {
	var r adminapi.MailboxGetResponse
	if err := cl.Call(ctx, adminapi.MethodMailboxGet, jmap.GetArgs{AccountID: &acc.ID}, &r); err != nil {
		return "", apiError(err)
	}
	var names, found []string
	for _, m := range r.List {
		if m.ID == ref {
			return m.ID, nil
		}
		if strings.EqualFold(m.Name, ref) {
			found = append(found, m.ID)
		}
		names = append(names, m.Name)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", cli.Exit(fmt.Sprintf("account %s has no mailbox %q (it has %s)", acc.Name, ref, strings.Join(names, ", ")), ExitUsage)
	}
	return "", cli.Exit(fmt.Sprintf("account %s has %d mailboxes named %q: give one's id (%s)", acc.Name, len(found), ref, strings.Join(found, ", ")), ExitUsage)
}
