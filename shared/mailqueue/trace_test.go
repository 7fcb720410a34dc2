package mailqueue

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The Message-ID of a message's header, however the header is written.
func TestHeaderMessageID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Message-ID: <a@b>\r\nSubject: x\r\n\r\nbody":                        "<a@b>",
		"Received: from x\r\n\tby y;\r\nmessage-id:   <c@d>  \r\n\r\n":       "<c@d>",
		"Subject: x\r\nMessage-Id:\r\n <folded@e>\r\n\r\n":                   "<folded@e>",
		"Subject: x\n\nMessage-ID: <in-body@f>\n":                            "",
		"Subject: no id\r\n\r\n":                                             "",
		"Subject: cut short\r\nMessage-ID: <g@h>\r\nX-Long: aaaaaaaaaaaaaaa": "<g@h>",
		"":                    "",
		"not a header at all": "",
	} {
		require.Equal(t, want, headerMessageID([]byte(in)), "%q", in)
	}
}
