package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The intake protections' keys: rate limits off, greylisting off with
// postgrey's defaults, duplicate suppression on for a day.
func TestIntakeProtectionDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Parse(nil)
	require.NoError(t, err)
	lim := cfg.SMTP.Limits
	for _, r := range []Rate{lim.RateIP, lim.RateSender, lim.RateAccount} {
		require.True(t, r.Off())
		require.Equal(t, "off", r.String())
	}
	require.Equal(t, SMTPGreylist{Delay: 5 * time.Minute, MaxAge: 35 * 24 * time.Hour, RetryWindow: 48 * time.Hour, AutoWhitelistClients: 5},
		cfg.SMTP.Greylist)
	require.Equal(t, 24*time.Hour, cfg.Storage.DuplicateRetention)

	cfg, err = Parse([]byte(`
[smtp.limits.rate]
ip = "100/1m"
sender = " 20 /1h"
account = "5000/1d"
[smtp.greylist]
enable = true
delay = "60s"
max-age = "7d"
retry-window = "12h"
auto-whitelist-clients = 0
[store.duplicates]
retention = "0s"
`))
	require.NoError(t, err)
	lim = cfg.SMTP.Limits
	require.Equal(t, Rate{Count: 100, Window: time.Minute}, lim.RateIP)
	require.Equal(t, Rate{Count: 20, Window: time.Hour}, lim.RateSender)
	require.Equal(t, Rate{Count: 5000, Window: 24 * time.Hour}, lim.RateAccount)
	require.Equal(t, "5000/1d", lim.RateAccount.String())
	require.Equal(t, SMTPGreylist{Enable: true, Delay: time.Minute, MaxAge: 7 * 24 * time.Hour, RetryWindow: 12 * time.Hour}, cfg.SMTP.Greylist)
	require.Zero(t, cfg.Storage.DuplicateRetention, "0s turns duplicate suppression off")
}

// Each bad value names its key and why, all at once.
func TestIntakeProtectionProblems(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{
		`smtp.limits.rate.account: "100" is not a rate: write count/window, such as "100/1h"`,
		"smtp.limits.rate.burst: unknown key (known: account, ip, sender)",
		"smtp.limits.rate.ip: the count must be between 1 and 1000000000, got 0",
		"smtp.limits.rate.sender: the window must be between 1s and 30d, got 60d",
	}, problemsOf(t, "[smtp.limits.rate]\nip = \"0/1h\"\nsender = \"10/60d\"\naccount = \"100\"\nburst = 5\n"))
	require.Equal(t, []string{"smtp.limits.rate.ip: the window must be whole seconds, got 1s500ms"},
		problemsOf(t, "[smtp.limits.rate]\nip = \"10/1.5s\"\n"))
	require.Equal(t, []string{`smtp.limits.rate.ip: "x/1h" is not a rate: write count/window, such as "100/1h"`, "smtp.limits.rate.sender: must be a string, got an integer"},
		problemsOf(t, "[smtp.limits.rate]\nip = \"x/1h\"\nsender = 10\n"))

	require.Equal(t, []string{
		"smtp.greylist.auto-whitelist-clients: must be between 0 and 1000000, got -1",
		"smtp.greylist.delay: must be between 1s and 1d, got 0s",
		"smtp.greylist.enable: must be true or false, got a string",
		"smtp.greylist.max-age: must be between 1h and 365d, got 10m",
		"smtp.greylist.whitelist: unknown key (known: auto-whitelist-clients, delay, enable, max-age, retry-window)",
	}, problemsOf(t, "[smtp.greylist]\nenable = \"yes\"\ndelay = \"0s\"\nmax-age = \"10m\"\nauto-whitelist-clients = -1\nwhitelist = []\n"))
	require.Equal(t, []string{
		"smtp.greylist.max-age: must be longer than smtp.greylist.delay (1d), got 2h: a retry must come after the delay and within it",
		"smtp.greylist.retry-window: must be longer than smtp.greylist.delay (1d), got 1d: a retry must come after the delay and within it",
	}, problemsOf(t, "[smtp.greylist]\ndelay = \"1d\"\nmax-age = \"2h\"\nretry-window = \"24h\"\n"))

	require.Equal(t, []string{"store.duplicates.retention: must be between 1m and 30d, got 10s"},
		problemsOf(t, "[store.duplicates]\nretention = \"10s\"\n"))
	require.Equal(t, []string{"store.duplicates.retention: must be between 1m and 30d, got 31d"},
		problemsOf(t, "[store.duplicates]\nretention = \"31d\"\n"))
	require.Equal(t, []string{"store.duplicates.window: unknown key (known: retention)"},
		problemsOf(t, "[store.duplicates]\nwindow = \"1d\"\n"))
}
