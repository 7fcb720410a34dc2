package sqlstore

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/jetmailtest"
)

func TestDollarPlaceholders(t *testing.T) {
	t.Parallel()
	require.Equal(t, "SELECT 1 FROM t WHERE a = $1 OR b = $2 AND c = '?'", dollarPlaceholders("SELECT 1 FROM t WHERE a = ? OR b = ? AND c = '?'"))
}

// startPostgres runs a PostgreSQL server for the test, on loopback, as the
// postgres user, and returns its DSN.
func startPostgres(t *testing.T) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		if os.Getenv("JETMAIL_REQUIRE_TOOLS") == "1" {
			t.Fatal("PostgreSQL is required (scripts/install-test-deps installs it)")
		}
		t.Skip("PostgreSQL not installed")
	}
	bin := bins[len(bins)-1]
	dir, err := os.MkdirTemp("", "jetmail-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	run := func(args ...string) {
		t.Helper()
		if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
			args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
		}
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	if os.Geteuid() == 0 {
		out, err := exec.Command("chown", "postgres", dir).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	data := filepath.Join(dir, "data")
	run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	_, port, _ := splitPort(jetmailtest.FreePort(t))
	run(filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-l", filepath.Join(dir, "log"),
		"-o", fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir), "start")
	t.Cleanup(func() { run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop") })
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", port)
}

func splitPort(addr string) (string, string, error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("no port in %q", addr)
}

// sql_query against PostgreSQL by DSN, with the reference's ? placeholders.
func TestPostgreSQLStore(t *testing.T) {
	t.Parallel()
	dsn := startPostgres(t)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE vip_clients (email TEXT PRIMARY KEY); INSERT INTO vip_clients VALUES ('ceo@corp.test')`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s, err := Open(&config.Config{Stores: map[string]config.Store{"my-db": {Type: "postgresql", DSN: dsn}}})
	require.NoError(t, err)
	defer s.Close()
	q := "SELECT 1 FROM vip_clients WHERE email = ? OR email = ?"
	v, err := s.Query("my-db", q, []any{"nobody@x.test", "ceo@corp.test"})
	require.NoError(t, err)
	require.EqualValues(t, 1, v)
	v, err = s.Query("my-db", q, []any{"a@x.test", "b@x.test"})
	require.NoError(t, err)
	require.Nil(t, v, "no row")

	_, err = Open(&config.Config{Stores: map[string]config.Store{"down": {Type: "postgresql", DSN: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}}})
	require.ErrorContains(t, err, "store.down (postgresql)")
}
