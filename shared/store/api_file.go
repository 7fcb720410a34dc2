package store

import (
	"context"
	"encoding/json"

	"github.com/jetmail/jetmail/shared/adminapi"
)

// fileSpec serves FileNode/get and /set: a file names a blob the account
// uploaded (or refers to already), charged to its quota by the blob's
// size.
func fileSpec(s *Store) docSpec[adminapi.FileNode] {
	return docSpec[adminapi.FileNode]{
		typ: FileType, getPerm: PermFilesGet, setPerm: PermFilesSet,
		out: func(d *Document) (adminapi.FileNode, error) {
			var f FileNode
			if err := d.Decode(&f); err != nil {
				return adminapi.FileNode{}, err
			}
			return adminapi.FileNode{ID: d.ID, Name: f.Name, Type: f.Type, Size: d.Size, BlobID: d.BlobID, Created: d.Created, Updated: d.Updated}, nil
		},
		fill: func(ctx context.Context, account string, d *Document, props json.RawMessage) error {
			var f FileNode
			if d.Data != nil {
				if err := d.Decode(&f); err != nil {
					return err
				}
			}
			c := adminapi.FileNodeCreate{Name: f.Name, Type: f.Type, BlobID: f.BlobID}
			if se := decodeProps(props, &c); se != nil {
				return se
			}
			f = FileNode{Name: c.Name, Type: c.Type, BlobID: c.BlobID}
			if err := checkFile(&f); err != nil {
				return err
			}
			if ok, err := s.Refers(ctx, account, f.BlobID); err != nil {
				return err
			} else if !ok {
				return fileErr(account, f.BlobID)
			}
			// Kept for the file, against a blob purge at it meanwhile.
			ref, err := s.keepBlob(ctx, f.BlobID)
			if err != nil {
				return fileErr(account, f.BlobID)
			}
			f.Size = ref.Size
			d.BlobID, d.Size = f.BlobID, f.Size
			return d.Encode(f)
		},
	}
}
