package certs

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// The policy is served to mta-sts.<domain> hosts only.
func TestMTASTSHandler(t *testing.T) {
	t.Parallel()
	h := MTASTSHandler("mx.example.org")
	get := func(host, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "https://"+host+path, nil)
		h.ServeHTTP(w, r)
		return w
	}
	w := get("mta-sts.example.org", MTASTSPath)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"))
	require.Equal(t, "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: 604800\r\n", w.Body.String())
	require.Equal(t, http.StatusNotFound, get("example.org", MTASTSPath).Code)
	require.Equal(t, http.StatusNotFound, get("mta-sts.example.org:443", "/other").Code)
}
