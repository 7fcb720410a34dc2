package kvwatch_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/kvwatch"
)

// A scan sees every key once at least (a key rewritten during the scan
// with a value it had meanwhile), and no deleted key; an empty bucket
// scans at once.
func TestScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	js, err := jetstream.New(jetmailtest.Conn(t, jetmailtest.Server(t)))
	require.NoError(t, err)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "scan"})
	require.NoError(t, err)
	require.NoError(t, kvwatch.Scan(ctx, kv, []string{">"}, func(jetstream.KeyValueEntry) error {
		t.Fatal("an empty bucket has nothing")
		return nil
	}))
	for _, k := range []string{"a.1", "a.2", "a.3", "b.1", "gone"} {
		_, err := kv.PutString(ctx, k, "v1")
		require.NoError(t, err)
	}
	require.NoError(t, kv.Delete(ctx, "gone"))
	seen := map[string]string{}
	err = kvwatch.Scan(ctx, kv, []string{"a.*", "gone"}, func(e jetstream.KeyValueEntry) error {
		if e.Key() == "a.1" && len(seen) == 0 {
			_, err := kv.PutString(ctx, "a.3", "v2") // moved past the scan's start
			require.NoError(t, err)
		}
		seen[e.Key()] = string(e.Value())
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, []string{"v1", "v2"}, seen["a.3"], "a value a.3 had during the scan")
	delete(seen, "a.3")
	require.Equal(t, map[string]string{"a.1": "v1", "a.2": "v1"}, seen, "every key, none deleted")
}
