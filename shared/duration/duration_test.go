package duration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"2m": 2 * time.Minute, "1d": 24 * time.Hour, "3d": 72 * time.Hour, "1h30m": 90 * time.Minute,
		"250ms": 250 * time.Millisecond, "2w": 14 * 24 * time.Hour, "1.5h": 90 * time.Minute, " 4d ": 96 * time.Hour,
	} {
		got, err := Parse(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "5", "m", "1y", "-1m", "1m-"} {
		_, err := Parse(bad)
		require.Error(t, err, bad)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{time.Second, 90 * time.Minute, 26 * time.Hour, 250 * time.Millisecond, 6 * time.Hour} {
		got, err := Parse(Format(d))
		require.NoError(t, err)
		require.Equal(t, d, got)
	}
	require.Equal(t, "1d2h", Format(26*time.Hour))
}
