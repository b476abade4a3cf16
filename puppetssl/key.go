package puppetssl

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
)

// passfile is where Puppet keeps the password of this host's private key
// (passfile; default $privatedir/password).
func (d Dir) passfile() string {
	if d.Passfile != "" {
		return d.Passfile
	}
	return filepath.Join(d.Path, "private", "password")
}

// Password is the content of the passfile, as Puppet reads it (every byte, a
// final newline too); nil when there is none.
func (d Dir) Password() ([]byte, error) {
	pw, err := os.ReadFile(d.passfile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return pw, err
}

// LoadKey reads this host's private key with the passfile's password, as
// Puppet's CertProvider#load_private_key does.
func (d Dir) LoadKey() (crypto.Signer, error) {
	data, err := os.ReadFile(d.Key())
	if err != nil {
		return nil, err
	}
	pw, err := d.Password()
	if err != nil {
		return nil, err
	}
	return ParseKey(d.Key(), data, pw)
}

// KeyPEM is key as Puppet saves a new one (CertProvider#save_private_key): PKCS#1
// or SEC 1, encrypted with AES-128-CBC under password when there is one.
func KeyPEM(key crypto.Signer, password []byte) ([]byte, error) {
	var b *pem.Block
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		b = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	case *rsa.PrivateKey:
		b = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	default:
		return nil, fmt.Errorf("a %T key cannot be saved", key)
	}
	if password != nil {
		if len(password) == 0 {
			// Ruby's PKey#export refuses an empty password, and so Puppet's
			// bootstrap fails.
			return nil, errors.New("the passfile is empty: a key cannot be encrypted with an empty password")
		}
		var err error
		// OpenSSL's traditional PEM encryption, Puppet's own format for an
		// encrypted key (deprecated in Go as unauthenticated).
		b, err = x509.EncryptPEMBlock(rand.Reader, b.Type, b.Bytes, password, x509.PEMCipherAES128) //nolint:staticcheck
		if err != nil {
			return nil, err
		}
	}
	return pem.EncodeToMemory(b), nil
}

// ParseKey reads a PEM private key as OpenSSL::PKey.read does: PKCS#1, SEC 1 or
// PKCS#8; encrypted the traditional way (Proc-Type and DEK-Info headers, as
// Puppet saves keys with a passfile) or as PKCS#8's PBES2 (openssl genpkey
// -aes256, openssl pkcs8 -topk8), with password. An unencrypted key ignores
// the password.
func ParseKey(file string, data []byte, password []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM key", file)
	}
	der := b.Bytes
	if x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck
		if password == nil {
			return nil, fmt.Errorf("%s: the key is encrypted and there is no passfile", file)
		}
		var err error
		der, err = x509.DecryptPEMBlock(b, password) //nolint:staticcheck
		if err != nil {
			return nil, fmt.Errorf("%s: the passfile's password does not decrypt the key: %w", file, err)
		}
	} else if b.Type == "ENCRYPTED PRIVATE KEY" {
		if password == nil {
			return nil, fmt.Errorf("%s: the key is encrypted and there is no passfile", file)
		}
		var err error
		der, err = decryptPKCS8(der, password)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: not a private key Puppet could read: %w", file, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: a %T cannot sign", file, k)
	}
	return signer, nil
}

// KeyPair is the host's certificate with its key (decrypted with the passfile's
// password).
func (d Dir) KeyPair() (tls.Certificate, error) {
	certPEM, err := os.ReadFile(d.Cert())
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := d.LoadKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// The OIDs of PKCS #5 v2 (RFC 8018) that OpenSSL writes.
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

type encryptedPrivateKeyInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF, Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt      []byte
	Iter      int
	KeyLength int                      `asn1:"optional"`
	PRF       pkix.AlgorithmIdentifier `asn1:"optional"`
}

// decryptPKCS8 decrypts an EncryptedPrivateKeyInfo of PBES2 with PBKDF2 and a
// CBC cipher: what OpenSSL 1.1 and 3 write by default.
func decryptPKCS8(der, password []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		return nil, fmt.Errorf("an encrypted PKCS #8 key that cannot be read: %w", err)
	}
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("a PKCS #8 key encrypted with %v: only PBES2 is supported", info.Algo.Algorithm)
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("PBES2 parameters: %w", err)
	}
	if !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("a PKCS #8 key whose key derivation is %v: only PBKDF2 is supported", p.KDF.Algorithm)
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil {
		return nil, fmt.Errorf("PBKDF2 parameters: %w", err)
	}
	var prf func() hash.Hash
	switch a := kp.PRF.Algorithm; {
	case len(a) == 0, a.Equal(oidHMACSHA1):
		prf = sha1.New
	case a.Equal(oidHMACSHA256):
		prf = sha256.New
	case a.Equal(oidHMACSHA384):
		prf = sha512.New384
	case a.Equal(oidHMACSHA512):
		prf = sha512.New
	default:
		return nil, fmt.Errorf("a PKCS #8 key with PBKDF2's PRF %v: not supported", a)
	}
	var newCipher func([]byte) (cipher.Block, error)
	var keyLen int
	switch a := p.Scheme.Algorithm; {
	case a.Equal(oidAES128CBC):
		newCipher, keyLen = aes.NewCipher, 16
	case a.Equal(oidAES192CBC):
		newCipher, keyLen = aes.NewCipher, 24
	case a.Equal(oidAES256CBC):
		newCipher, keyLen = aes.NewCipher, 32
	case a.Equal(oidDESEDE3CBC):
		newCipher, keyLen = des.NewTripleDESCipher, 24
	default:
		return nil, fmt.Errorf("a PKCS #8 key encrypted with %v: not supported", a)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(p.Scheme.Parameters.FullBytes, &iv); err != nil {
		return nil, fmt.Errorf("the cipher's IV: %w", err)
	}
	key, err := pbkdf2.Key(prf, string(password), kp.Salt, kp.Iter, keyLen)
	if err != nil {
		return nil, err
	}
	block, err := newCipher(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != block.BlockSize() || len(info.Data) == 0 || len(info.Data)%block.BlockSize() != 0 {
		return nil, errors.New("an encrypted PKCS #8 key of a wrong size")
	}
	out := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, info.Data)
	// PKCS #7 padding; a wrong password almost always shows here.
	n := int(out[len(out)-1])
	if n == 0 || n > block.BlockSize() || !bytes.Equal(out[len(out)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, errors.New("the passfile's password does not decrypt the key")
	}
	return out[:len(out)-n], nil
}
