package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetmail/jetmail/shared/jmap"
)

// MaxSizeUpload bounds one blob uploaded over HTTP, in bytes: 50 MiB (RFC
// 8620 names it maxSizeUpload). A larger upload gets HTTP 413 with a
// urn:ietf:params:jmap:error:limit problem whose limit is "maxSizeUpload",
// and nothing is stored.
const MaxSizeUpload = 50 << 20

// UploadPath is where a blob is uploaded over HTTP (RFC 8620 6.1):
// POST /jmap/upload/<accountId> with the bytes as the body and their media
// type as Content-Type. The answer is {accountId, blobId, type, size}
// (jmap.UploadResponse). The credentials are the API's: an account's own,
// for itself, or an API user's with sysBlobUpload.
const UploadPath = "POST /jmap/upload/{account}"

// Upload is a blob an account uploaded: it may then refer to it (Email/
// import, FileNode/set) and download it.
type Upload struct {
	BlobRef
	// Type is the media type it was uploaded with.
	Type     string    `json:"type"`
	Uploaded time.Time `json:"uploaded"`
}

func uploadKey(account, blobID string) string { return account + ".upload." + blobID }

// Upload stores r's bytes as a blob and records that the account uploaded
// it with media type typ (default application/octet-stream).
func (s *Store) Upload(ctx context.Context, account string, r io.Reader, typ string) (*Upload, error) {
	if err := s.full(); err != nil {
		return nil, err
	}
	if typ == "" {
		typ = "application/octet-stream"
	}
	a, err := s.Account(ctx, account)
	if err != nil {
		return nil, err
	}
	if a.State != Active {
		return nil, fmt.Errorf("account %s is %s: %w", a.Name, a.State, ErrNotFound)
	}
	ref, err := s.PutBlob(ctx, r)
	if err != nil {
		return nil, err
	}
	u := &Upload{BlobRef: ref, Type: typ, Uploaded: s.p.Clock.Now().UTC()}
	b, _ := json.Marshal(u)
	if _, err := s.docs.Put(ctx, uploadKey(account, ref.ID), b); err != nil {
		return nil, fmt.Errorf("record the upload of %s: %w", ref.ID, kvErr(err))
	}
	return u, nil
}

// BlobInfo says whether a blob is stored, and its size.
func (s *Store) BlobInfo(ctx context.Context, id string) (BlobRef, error) {
	if err := s.full(); err != nil {
		return BlobRef{}, err
	}
	info, err := s.blobInfo(ctx, id)
	if err != nil {
		return BlobRef{}, err
	}
	return BlobRef{ID: id, Size: int64(info.Size)}, nil
}

// blobInfo reads a stored blob's object info; ErrNotFound when it is not
// stored.
func (s *Store) blobInfo(ctx context.Context, id string) (*jetstream.ObjectInfo, error) {
	info, err := s.blobs.GetInfo(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("blob %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", id, err)
	}
	return info, nil
}

// httpFail writes a problem-details error (RFC 7807) for the blob
// handlers.
func httpFail(w http.ResponseWriter, code int, typ, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(jmap.Problem{Type: "urn:ietf:params:jmap:error:" + typ, Status: code, Detail: detail})
}

// httpPrincipal authenticates a blob request with srv, answering 401 when
// it cannot.
func httpPrincipal(srv *jmap.Server, w http.ResponseWriter, r *http.Request) *jmap.Principal {
	p, prob := srv.Authenticate(r.Header.Get("Authorization"))
	if prob != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="jetmail"`)
		httpFail(w, prob.Status, "unauthorized", prob.Detail)
		return nil
	}
	return p
}

// errTooLarge ends an upload past MaxSizeUpload.
var errTooLarge = errors.New("upload too large")

// capReader reads at most n bytes, then fails with errTooLarge.
type capReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (c *capReader) Read(b []byte) (int, error) {
	if c.n <= 0 {
		// Past the cap by one byte is past it.
		var one [1]byte
		if k, _ := c.r.Read(one[:]); k > 0 {
			c.over = true
			return 0, errTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(b)) > c.n {
		b = b[:c.n]
	}
	k, err := c.r.Read(b)
	c.n -= int64(k)
	return k, err
}

// UploadHandler serves UploadPath into s, authenticating with srv.
func UploadHandler(srv *jmap.Server, s *Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := httpPrincipal(srv, w, r)
		if p == nil {
			return
		}
		account := r.PathValue("account")
		if !p.CanAccount(account, PermBlobUpload) {
			httpFail(w, http.StatusForbidden, "forbidden", fmt.Sprintf("%s may not upload to account %s (needs the %s permission)", p.Name, account, PermBlobUpload))
			return
		}
		tooLarge := func() {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_ = json.NewEncoder(w).Encode(jmap.Problem{Type: "urn:ietf:params:jmap:error:limit", Status: http.StatusRequestEntityTooLarge, Limit: "maxSizeUpload",
				Detail: "an upload is at most " + strconv.Itoa(MaxSizeUpload) + " bytes (maxSizeUpload)"})
		}
		if r.ContentLength > MaxSizeUpload {
			tooLarge()
			return
		}
		typ := r.Header.Get("Content-Type")
		if typ != "" {
			mt, params, err := mime.ParseMediaType(typ)
			if err != nil {
				httpFail(w, http.StatusBadRequest, "invalidArguments", fmt.Sprintf("Content-Type %q: %v", typ, err))
				return
			}
			typ = mime.FormatMediaType(mt, params)
		}
		body := &capReader{r: r.Body, n: MaxSizeUpload}
		u, err := s.Upload(r.Context(), account, body, typ)
		switch {
		case body.over:
			tooLarge()
		case errors.Is(err, ErrNotFound):
			httpFail(w, http.StatusNotFound, "notFound", fmt.Sprintf("no active account %s", account))
		case err != nil:
			httpFail(w, http.StatusInternalServerError, "serverFail", err.Error())
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(jmap.UploadResponse{AccountID: account, BlobID: u.ID, Type: u.Type, Size: u.Size})
		}
	})
}
