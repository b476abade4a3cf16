package puppetssl

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// TestParseKeyEncrypted reads keys encrypted by the real tools: Ruby's OpenSSL
// as Puppet saves a key with a passfile (PKey#export with AES-128-CBC), and
// openssl's PKCS #8 (PBES2) and traditional forms. The password is the
// passfile's every byte, its final newline too.
func TestParseKeyEncrypted(t *testing.T) {
	for _, tool := range []string{"openssl", "ruby"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is needed to make encrypted keys", tool)
			return
		}
	}
	dir := t.TempDir()
	const password = "s3cret\n"
	pass := filepath.Join(dir, "password")
	if err := os.WriteFile(pass, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) []byte {
		t.Helper()
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		return out
	}
	plain := run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
	plainFile := filepath.Join(dir, "plain.pem")
	os.WriteFile(plainFile, plain, 0o600)
	tests := []struct {
		name   string
		pem    []byte
		header string
	}{
		{"Puppet's own (Ruby PKey#export, AES-128-CBC)", run("ruby", "-ropenssl", "-e",
			`print OpenSSL::PKey::RSA.new(File.read(ARGV[0])).export(OpenSSL::Cipher::AES.new(128, :CBC), File.binread(ARGV[1]))`, plainFile, pass),
			"DEK-Info: AES-128-CBC"},
		{"Puppet's own EC key", run("ruby", "-ropenssl", "-e",
			`print OpenSSL::PKey::EC.generate("prime256v1").export(OpenSSL::Cipher::AES.new(128, :CBC), File.binread(ARGV[0]))`, pass),
			"BEGIN EC PRIVATE KEY"},
		{"openssl traditional, 3DES", run("openssl", "rsa", "-in", plainFile, "-traditional", "-des3", "-passout", "file:"+pass),
			"DEK-Info: DES-EDE3-CBC"},
		{"openssl PKCS #8, AES-256 and HMAC-SHA256", run("openssl", "pkcs8", "-topk8", "-in", plainFile, "-v2", "aes-256-cbc", "-passout", "file:"+pass),
			"BEGIN ENCRYPTED PRIVATE KEY"},
		{"openssl PKCS #8, AES-128 and HMAC-SHA1", run("openssl", "pkcs8", "-topk8", "-in", plainFile, "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1", "-passout", "file:"+pass),
			"BEGIN ENCRYPTED PRIVATE KEY"},
	}
	for _, tt := range tests {
		if !bytes.Contains(tt.pem, []byte(tt.header)) {
			t.Fatalf("%s: the tool wrote no %q:\n%s", tt.name, tt.header, tt.pem)
		}
		// openssl reads the password file's first line only; Puppet reads all
		// of it. The keys openssl wrote have "s3cret"; Ruby's "s3cret\n".
		pw := []byte(password)
		if strings.HasPrefix(tt.name, "openssl") {
			pw = []byte("s3cret")
		}
		if _, err := ParseKey("k.pem", tt.pem, pw); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if _, err := ParseKey("k.pem", tt.pem, []byte("wrong")); err == nil {
			t.Errorf("%s: read with a wrong password", tt.name)
		}
		if _, err := ParseKey("k.pem", tt.pem, nil); err == nil || !strings.Contains(err.Error(), "there is no passfile") {
			t.Errorf("%s without a passfile: %v", tt.name, err)
		}
	}
	if _, err := KeyPEM(mustParse(t, plain), []byte{}); err == nil {
		t.Error("a key was encrypted with an empty passfile's password; Ruby's PKey#export refuses it")
	}
	if _, err := ParseKey("plain.pem", plain, []byte("ignored")); err != nil {
		t.Errorf("an unencrypted key with a password: %v", err)
	}
}

// TestKeyPEMReadByRuby: a key saved with a password, as Puppet saves one, is
// read back by Ruby's OpenSSL with that password, and by ParseKey.
func TestKeyPEMReadByRuby(t *testing.T) {
	if _, err := exec.LookPath("ruby"); err != nil {
		testenv.Missing(t, "ruby is needed to read the keys back")
		return
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pass := filepath.Join(dir, "password")
	os.WriteFile(pass, []byte("pw\n"), 0o600)
	for name, key := range map[string]crypto.Signer{"rsa": rk, "ec": ek} {
		data, err := KeyPEM(key, []byte("pw\n"))
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, name+".pem")
		os.WriteFile(file, data, 0o600)
		out, err := exec.Command("ruby", "-ropenssl", "-e",
			`print OpenSSL::PKey.read(File.read(ARGV[0]), File.binread(ARGV[1])).class`, file, pass).CombinedOutput()
		if err != nil {
			t.Errorf("%s: Ruby's OpenSSL cannot read it: %v\n%s", name, err, out)
		}
		if _, err := ParseKey(file, data, []byte("pw\n")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func mustParse(t *testing.T, data []byte) crypto.Signer {
	t.Helper()
	k, err := ParseKey("k.pem", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
