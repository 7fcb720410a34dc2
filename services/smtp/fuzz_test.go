package smtp_test

import (
	"bufio"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

var replyLine = regexp.MustCompile(`^[2-5][0-9][0-9][ -]`)

// FuzzSession sends arbitrary bytes to a real intake as one client session
// (then QUIT): every line it answers is an SMTP reply, and the intake still
// greets the next client.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"EHLO client.test\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
		"HELO x\r\nMAIL FROM:<a\x00b@example.org>\r\n", "EHLO x\r\nRCPT TO:<bob@example.org>\r\n", "DATA\r\n",
		"EHLO x\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\n", "EHLO x\r\nAUTH LOGIN\r\n*\r\n",
		"EHLO x\r\nMAIL FROM:<> SIZE=99999999999\r\n", "EHLO x\r\nMAIL FROM:<a@b.test> RET=FULL ENVID=x\r\nRCPT TO:<c@example.org> NOTIFY=NEVER ORCPT=rfc822;c@example.org\r\n",
		"EHLO x\r\nBDAT 5 LAST\r\nhello", "EHLO x\r\nSTARTTLS\r\n", "VRFY x\r\nEXPN y\r\nHELP\r\nNOOP\r\nRSET\r\n", strings.Repeat("A", 3000) + "\r\n",
		"\x00\x01\x02\r\n", "EHLO " + strings.Repeat("x", 500) + "\r\n",
	} {
		f.Add([]byte(seed))
	}
	in := startIntake(f)
	addr := in.smtp.Addrs()[0]
	f.Fuzz(func(t *testing.T, input []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		go func() { _, _ = c.Write(append(append([]byte{}, input...), "\r\n.\r\nQUIT\r\n"...)) }()
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break // closed, or waiting for more input
			}
			if !replyLine.MatchString(line) {
				t.Fatalf("not an SMTP reply: %q (input %q)", line, input)
			}
		}
		// The intake still serves.
		c2, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
		greet, err := bufio.NewReader(c2).ReadString('\n')
		if err != nil || !strings.HasPrefix(greet, "220 ") && !strings.HasPrefix(greet, "421 ") {
			t.Fatalf("after %q the intake greets %q (%v)", input, greet, err)
		}
	})
}
