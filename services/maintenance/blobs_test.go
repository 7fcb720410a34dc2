package maintenance_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/services/maintenance"
	"github.com/jetmail/jetmail/shared/clock"
	"github.com/jetmail/jetmail/shared/jetmailtest"
	"github.com/jetmail/jetmail/shared/node"
	"github.com/jetmail/jetmail/shared/store"
	"github.com/jetmail/jetmail/shared/task"
	"github.com/jetmail/jetmail/shared/taskmanager"
)

// StoreMaintenance purgeBlob, run by the maintenance service, removes an
// orphan blob past the store's grace and keeps an email's and a young
// orphan; resetBlobQuotas has nothing to reset and completes.
func TestPurgeBlobTask(t *testing.T) {
	t.Parallel()
	// The store alone tells the time by a fake clock, so that its blobs
	// age without waiting; the task runner keeps the real one.
	clk := clock.NewFake(time.Now())
	srv := jetmailtest.Server(t)
	cfg := jetmailtest.Config(t, "1")
	sc := store.NewComponent(store.Params{Clock: clk})
	svc := maintenance.New(cfg, sc, maintenance.Params{})
	n := jetmailtest.Node(t, jetmailtest.Conn(t, srv), cfg, sc, svc)
	st := sc.Store()
	ctx := context.Background()
	a := alice(t, st)

	raw := []byte("Subject: kept\r\n\r\nreferred to\r\n")
	email, err := st.StoreEmail(ctx, a.ID, raw, store.NewEmail{})
	require.NoError(t, err)
	orphan, err := st.PutBlob(ctx, bytes.NewReader([]byte("no document came for this")))
	require.NoError(t, err)
	clk.Advance(store.DefaultBlobPurgeGrace + time.Minute)
	young, err := st.PutBlob(ctx, bytes.NewReader([]byte("its document is on its way")))
	require.NoError(t, err)

	run := func(p task.Payload) {
		t.Helper()
		tk, err := svc.Manager().Create(ctx, p, nil)
		require.NoError(t, err)
		var got *task.Task
		require.Eventually(t, func() bool {
			got, err = svc.Manager().Get(ctx, tk.ID)
			return errors.Is(err, taskmanager.ErrNotFound) || err == nil && got.Status.Type != task.Pending
		}, 10*time.Second, 20*time.Millisecond)
		require.ErrorIs(t, err, taskmanager.ErrNotFound, "done, not %+v", got)
	}
	run(&task.StoreMaintenanceTask{MaintenanceType: "purgeBlob"})
	_, err = st.BlobInfo(ctx, orphan.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "the orphan removed")
	for id, want := range map[string][]byte{email.BlobID: raw, young.ID: []byte("its document is on its way")} {
		rc, err := st.Blob(ctx, id)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.Equal(t, want, got)
	}
	require.Equal(t, 1.0, metric(t, n, "jetmail_blob_purge_removed_total"))
	require.Equal(t, float64(orphan.Size), metric(t, n, "jetmail_blob_purge_freed_bytes_total"))
	require.Equal(t, 2.0, gauge(t, n, "jetmail_blob_store_blobs"))

	run(&task.StoreMaintenanceTask{MaintenanceType: "purgeBlob"})
	require.Equal(t, 1.0, metric(t, n, "jetmail_blob_purge_removed_total"), "nothing more; the metrics are the same ones")
	run(&task.StoreMaintenanceTask{MaintenanceType: "resetBlobQuotas"})
}

// gauge reads a gauge of the node's registry.
func gauge(t *testing.T, n *node.Node, name string) float64 {
	t.Helper()
	mfs, err := n.Deps().Metrics.(prometheus.Gatherer).Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
