package mailparse_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetmail/jetmail/shared/mailparse"
)

// TestParseStreamsLargeAttachment feeds a message with a 50 MiB base64
// attachment through a pipe and checks that Parse allocates a small, fixed
// amount, so it never held the attachment.
//
// It does not call t.Parallel: the allocation counters are process-wide, and
// the parallel tests wait until the sequential ones are done, so nothing
// else allocates while it measures.
func TestParseStreamsLargeAttachment(t *testing.T) {
	const size = 50 << 20
	// One base64 line is 57 bytes of data; prepare the lines up front so the
	// writer allocates nothing while Parse is measured.
	line := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, 57)) + "\r\n"
	block := bytes.Repeat([]byte(line), 1000) // 57,000 bytes of data
	fullBlocks := size / 57000
	restLines := (size % 57000) / 57
	last := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, size%57)) + "\r\n"
	head := []byte("From: big@example.com\r\nSubject: large\r\n" +
		"Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n" +
		"--big\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--big\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"big.bin\"\r\n\r\n")
	tail := []byte(last + "--big--\r\n")

	pr, pw := io.Pipe()
	var written int64
	go func() {
		write := func(b []byte) bool {
			n, err := pw.Write(b)
			written += int64(n)
			return err == nil
		}
		ok := write(head)
		for i := 0; ok && i < fullBlocks; i++ {
			ok = write(block)
		}
		ok = ok && write(block[:restLines*len(line)]) && write(tail)
		_ = ok
		pw.Close()
	}()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := mailparse.Parse(pr, mailparse.Options{})
	runtime.ReadMemStats(&after)

	require.NoError(t, err)
	require.Empty(t, m.Problems)
	require.Equal(t, "See attached.", m.Text)
	require.Equal(t, []mailparse.Attachment{{Part: "2", Name: "big.bin", Type: "application/octet-stream", Size: size}}, m.Attachments)
	require.Equal(t, written, m.Size)
	require.Greater(t, m.Size, int64(size))

	allocated := after.TotalAlloc - before.TotalAlloc
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("read %d bytes; allocated %d bytes in all; heap grew by %d bytes", m.Size, allocated, grown)
	require.Less(t, allocated, uint64(8<<20), "bytes allocated while parsing")
	require.Less(t, grown, int64(8<<20), "heap growth while parsing")
}
