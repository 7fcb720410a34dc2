package delivery

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/jetmail/jetmail/shared/config"
)

// signer signs a sender domain's mail with its DKIM key.
type signer struct {
	opts *dkim.SignOptions
}

func loadSigner(domain string, k config.DKIMKey) (*signer, error) {
	data, err := os.ReadFile(k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("read private-key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("private-key %s holds no PEM block", k.PrivateKey)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private-key %s: %w", k.PrivateKey, err)
	}
	cs, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private-key %s is not a signing key", k.PrivateKey)
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
