package delivery

import (
	"bytes"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/jetmail/jetmail/shared/config"
	"github.com/jetmail/jetmail/shared/dkimkey"
)

// signer signs a sender domain's mail with its DKIM key.
type signer struct {
	opts *dkim.SignOptions
}

func loadSigner(domain string, k config.DKIMKey) (*signer, error) {
	cs, err := dkimkey.Load(k.PrivateKey)
	if err != nil {
		return nil, err
	}
	return &signer{opts: &dkim.SignOptions{Domain: domain, Selector: k.Selector, Signer: cs,
		HeaderKeys: []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References", "MIME-Version", "Content-Type"}}}, nil
}

func (s *signer) sign(msg []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(msg), s.opts); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
