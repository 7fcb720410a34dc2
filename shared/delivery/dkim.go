package delivery

import (
	"bytes"
	"crypto"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/jetmail/jetmail/shared/address"
)

// signedHeaders are the header fields a DKIM signature covers.
var signedHeaders = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References", "MIME-Version", "Content-Type"}

// key is a domain's configured DKIM key (dkim.<domain>).
type key struct {
	selector string
	signer   crypto.Signer
}

// Sign returns msg with the DKIM signature of the sender's domain: its
// rotated key that signs now (Params.DKIM), else its configured one; msg
// unchanged when the domain has neither.
func (d *Deliverer) Sign(sender string, msg []byte) ([]byte, error) {
	domain := address.DomainOf(sender)
	selector, signer := "", crypto.Signer(nil)
	if k, ok := d.keys[domain]; ok {
		selector, signer = k.selector, k.signer
	}
	if d.p.DKIM != nil {
		if sel, s, ok := d.p.DKIM.Active(domain); ok {
			selector, signer = sel, s
		}
	}
	if signer == nil {
		return msg, nil
	}
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: selector, Signer: signer, HeaderKeys: signedHeaders}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
