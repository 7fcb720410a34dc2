// Package dkimkey reads a domain's DKIM signing key and tells the DNS
// record that publishes its public half (RFC 6376 §3.6.1, RFC 8463 for
// Ed25519).
package dkimkey

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
)

// Load reads the PEM file at path: an RSA key (PKCS #1 or #8) or an
// Ed25519 key (PKCS #8).
func Load(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private-key: %w", err)
	}
	key, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("private-key %s: %w", path, err)
	}
	return key, nil
}

// parse reads a PEM private key: RSA (PKCS #1 or #8) or Ed25519 (PKCS #8).
func parse(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("holds no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("is neither an RSA nor an Ed25519 key")
}

// Record is the TXT record's text for key's public half:
// "v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>" or
// "v=DKIM1; k=ed25519; p=<base64 of the 32-byte key>".
func Record(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("dkim public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("dkim public key: unsupported key type %T", key.Public())
}
