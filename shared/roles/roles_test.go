package roles

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseShards(t *testing.T) {
	t.Parallel()
	ss, err := ParseShards([]string{"1,4", " 2 , 3 ", "5"})
	require.NoError(t, err)
	require.Equal(t, Shards{{"1", "4"}, {"2", "3"}, {"5"}}, ss)
	require.Equal(t, []int{0}, ss.Of("4"))
	require.Empty(t, ss.Of("9"))

	_, err = ParseShards([]string{"1,1", "2,,3", "ok", "a b"})
	require.Error(t, err)
	var list []*ShardError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var se *ShardError
		require.True(t, errors.As(e, &se))
		list = append(list, se)
	}
	require.Len(t, list, 3)
	require.Equal(t, 0, list[0].Index)
	require.Contains(t, list[0].Reason, "node 1 appears twice")
	require.Equal(t, 1, list[1].Index)
	require.Contains(t, list[1].Reason, `cannot parse node list "2,,3"`)
	require.Equal(t, 3, list[2].Index)
}

func TestCheck(t *testing.T) {
	t.Parallel()
	require.NoError(t, Check(PushNotifications, Shards{{"1"}, {"2"}}))
	require.ErrorContains(t, Check(PushNotifications, Shards{{"1", "2"}}), "on 2 nodes it needs at least two shards, got 1")
	require.NoError(t, Check(PushNotifications, Shards{{"1"}}), "one node alone, as the default seeds it")
	require.ErrorContains(t, Check(FtsIndexing, nil), "at least one shard")
	_, err := Parse("purge.nothing")
	require.ErrorContains(t, err, "unknown role")
	require.Equal(t, "purge-stores", PurgeStores.Token())
}
