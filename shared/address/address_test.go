package address_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/address"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]address.Address{
		"bob@Example.ORG":        {Local: "bob", Domain: "example.org"},
		`"a@b c"@example.org`:    {Local: `"a@b c"`, Domain: "example.org"},
		"first.last+tag@mx.test": {Local: "first.last+tag", Domain: "mx.test"},
	} {
		got, err := address.Parse(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		require.Equal(t, want.Domain, address.DomainOf(in))
	}
	for _, bad := range []string{"", "bob", "@example.org", "bob@", "Bob <bob@example.org>", "bob@exa mple.org",
		"bob\x00@example.org", "bob@example.org\r\nRCPT TO:<x@y>", "bo\tb@example.org", "a@b@c"} {
		_, err := address.Parse(bad)
		require.ErrorIs(t, err, address.ErrSyntax, "%q", bad)
	}
	require.Equal(t, "", address.DomainOf(""), "the null sender")
}

func TestValidDomain(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"example.org": true, "localhost": true, "xn--bcher-kva.example": true, "a-b.c": true,
		"": false, "-a.org": false, "a-.org": false, "a..org": false, "a.org.": false, "a_b.org": false,
		"exa mple.org": false, strings.Repeat("a", 64) + ".org": false,
	} {
		require.Equal(t, want, address.ValidDomain(s), s)
	}
}
