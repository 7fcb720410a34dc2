package store

import (
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFileName bounds a file node's name, in bytes: 255.
const MaxFileName = 255

// FileNode is a file document's fields (Document.Data of FileType): a
// named, typed blob the account stores. The document's BlobID and Size are
// the same blob's, so that the file is charged to the quota.
type FileNode struct {
	// Name is the file's name, without a path.
	Name string `json:"name"`
	// Type is its media type. Default application/octet-stream.
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	BlobID string `json:"blobId"`
}

// checkFile checks a file's name and media type, normalising the type.
func checkFile(f *FileNode) error {
	switch {
	case strings.TrimSpace(f.Name) == "":
		return invalidf("name", "a file needs a name")
	case len(f.Name) > MaxFileName:
		return invalidf("name", "%d bytes; at most %d", len(f.Name), MaxFileName)
	case !utf8.ValidString(f.Name) || strings.IndexFunc(f.Name, unicode.IsControl) >= 0:
		return invalidf("name", "not UTF-8 text without control characters")
	case strings.ContainsRune(f.Name, '/') || f.Name == "." || f.Name == "..":
		return invalidf("name", "%q is a path, not a name", f.Name)
	}
	if f.Type == "" {
		f.Type = "application/octet-stream"
	}
	mt, params, err := mime.ParseMediaType(f.Type)
	if err != nil || !strings.Contains(mt, "/") {
		return invalidf("type", "%q is not a media type such as text/plain", f.Type)
	}
	f.Type = mime.FormatMediaType(mt, params)
	if f.BlobID == "" {
		return invalidf("blobId", "is required: upload the file first")
	}
	return nil
}

// fileErr says that a file's blob is not the account's.
func fileErr(account, blobID string) error {
	return invalidf("blobId", "account %s has no blob %s: upload it first", account, blobID)
}
