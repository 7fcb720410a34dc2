package store

import (
	"context"
	"errors"

	"github.com/jetmail/jetmail/shared/adminapi"
	"github.com/jetmail/jetmail/shared/fts"
	"github.com/jetmail/jetmail/shared/jmap"
	"github.com/jetmail/jetmail/shared/search"
)

// Search asks the indexer node holding the account's partition for one
// page of the account's emails matching f (package search). It fails
// with search.ErrUnavailable when no live node holds the partition.
func (s *Store) Search(ctx context.Context, account string, f adminapi.EmailFilter, ascending bool, position, limit int) (search.Response, error) {
	q := fts.Query{
		Account: account, Type: fts.TypeEmail,
		Text: f.Text, From: f.From, To: f.To, Subject: f.Subject, Body: f.Body,
		Before: f.Before, After: f.After, InMailbox: f.InMailbox, HasKeyword: f.HasKeyword, NotKeyword: f.NotKeyword,
		Sort: fts.SortDate, IsAscending: ascending, Position: position, Limit: min(limit, fts.MaxLimit),
	}
	return search.Client{Conn: s.js.Conn()}.Search(ctx, s.Partition(account), q)
}

// emailSearch answers an Email/query with full-text conditions.
func (a *api) emailSearch(ctx context.Context, account string, args *adminapi.EmailQueryArgs, ascending bool) (any, error) {
	r, err := a.s.Search(ctx, account, *args.Filter, ascending, args.Position, args.LimitOr(jmap.MaxObjectsInGet))
	switch {
	case errors.Is(err, search.ErrUnavailable):
		return nil, jmap.Errorf("serverUnavailable", "no live indexer node holds partition %d, where account %s is: full-text search needs the indexer service (jetmail serve indexer) on a node of role fts-indexing", a.s.Partition(account), account)
	case errors.Is(err, fts.ErrInvalid):
		return nil, jmap.Errorf("invalidArguments", "%v", err)
	case err != nil:
		return nil, jmap.Errorf("serverFail", "search: %v", err)
	}
	res := jmap.NewQueryResponse(r.IDs, args.Position, int(r.Total))
	res.AccountID = &account
	res.Partial = r.Partial
	return res, nil
}
