// Package storetest helps tests read what the mail store holds.
package storetest

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/store"
)

// Mail returns the raw messages stored in the account that receives
// address's mail, oldest first (an error when there is no such account).
func Mail(js jetstream.JetStream, address string) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := store.Open(ctx, store.Params{JS: js, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	a, err := s.AccountByAddress(ctx, address)
	if err != nil {
		return nil, err
	}
	var docs []*store.Document
	if err := s.Documents(ctx, a.ID, store.EmailType, func(d *store.Document) bool { docs = append(docs, d); return true }); err != nil {
		return nil, err
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Created.Before(docs[j].Created) })
	out := make([][]byte, 0, len(docs))
	for _, d := range docs {
		r, err := s.Blob(ctx, d.BlobID)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
