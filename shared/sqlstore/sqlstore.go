// Package sqlstore opens the SQL stores of the configuration (store.<id>)
// and answers the strategy function sql_query(store, query, args): the
// first column of the first row, or nil when there is no row.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL
	_ "modernc.org/sqlite"             // SQLite, without cgo

	"github.com/jetmail/jetmail/shared/config"
)

// Stores are the open SQL stores.
type Stores struct {
	mu  sync.Mutex
	dbs map[string]*sql.DB
	// dollar marks the stores whose placeholders are $1, $2 (PostgreSQL).
	dollar map[string]bool
}

// Open opens every SQL store of cfg.
func Open(cfg *config.Config) (*Stores, error) {
	s := &Stores{dbs: map[string]*sql.DB{}, dollar: map[string]bool{}}
	names := make([]string, 0, len(cfg.Stores))
	for n := range cfg.Stores {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		st := cfg.Stores[name]
		var db *sql.DB
		var err error
		switch st.Type {
		case "sqlite":
			db, err = sql.Open("sqlite", "file:"+st.Path+"?_pragma=busy_timeout(5000)&mode=ro")
		case "postgresql":
			db, err = sql.Open("pgx", st.DSN)
			s.dollar[name] = true
		default:
			continue
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = db.PingContext(ctx)
			cancel()
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store.%s (%s): %w", name, st.Type, err)
		}
		s.dbs[name] = db
	}
	return s, nil
}

// Query runs query with args on the named store.
func (s *Stores) Query(store, query string, args []any) (any, error) {
	s.mu.Lock()
	db, ok := s.dbs[store]
	dollar := s.dollar[store]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("sql_query: no SQL store %q (define store.%s with type sqlite or postgresql)", store, store)
	}
	if dollar {
		query = dollarPlaceholders(query)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v any
	err := db.QueryRowContext(ctx, query, args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sql_query on %s: %w", store, err)
	}
	if b, ok := v.([]byte); ok {
		return string(b), nil
	}
	return v, nil
}

// Close closes the stores.
func (s *Stores) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, db := range s.dbs {
		_ = db.Close()
	}
}

// dollarPlaceholders turns the ? placeholders of a query, as the reference
// writes them, into PostgreSQL's $1, $2, leaving quoted text alone.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	var quote rune
	for _, c := range q {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
