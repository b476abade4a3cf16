package agent

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/internal/testenv"
)

// rubyPuppet says whether Ruby can load Puppet; under CI it must.
func rubyPuppet(t *testing.T) {
	t.Helper()
	if err := exec.Command("ruby", "-e", `require "puppet"`).Run(); err != nil {
		testenv.Missing(t, "needs Ruby with Puppet (scripts/deps.sh installs it): %v", err)
	}
}

// TestCSRMatchesPuppet: the certificate request made from csr_attributes.yaml is
// the one Puppet's own CertificateRequest#generate makes with the same RSA key
// (its signature is deterministic), byte for byte: subject, custom attributes,
// extension requests, dns_alt_names, their encodings and their order.
func TestCSRMatchesPuppet(t *testing.T) {
	rubyPuppet(t)
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	for name, tc := range map[string]struct{ yaml, altNames string }{
		"both": {`custom_attributes:
  challengePassword: "s3cret"
  1.2.840.113549.1.9.2: 42
extension_requests:
  pp_role: webserver
  pp_datacenter: "dc-1"
  Puppet Node Owner: ops
  1.3.6.1.4.1.34380.1.2.1: true
`, ""},
		"extensions only":              {"extension_requests:\n  pp_uuid: ED803750-E3C7-44F5-BB08-41A04433FE2E\n", ""},
		"attributes only":              {"custom_attributes:\n  challengePassword: 'a very long password that is longer than the others'\n", ""},
		"empty":                        {"{}\n", ""},
		"dns_alt_names":                {"{}\n", "puppet, IP:127.0.0.1,zeta.example.com ,DNS:alpha,IP:::1,node.test"},
		"dns_alt_names and extensions": {"extension_requests:\n  pp_role: db\n", "db.example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			os.WriteFile(file, []byte(tc.yaml), 0o644)
			ruby := exec.Command("ruby", "-e", `require "puppet"; require "puppet/ssl"
Puppet::SSL::Oids.register_puppet_oids
key = OpenSSL::PKey.read(File.read(ARGV[0]))
attrs = Puppet::SSL::CertificateRequestAttributes.new(ARGV[1])
attrs.load
r = Puppet::SSL::CertificateRequest.new("node.test")
opts = {csr_attributes: attrs.custom_attributes, extension_requests: attrs.extension_requests}
opts[:dns_alt_names] = ARGV[2] unless ARGV[2].empty?
r.generate(key, opts)
$stdout.write r.content.to_der`, keyFile, file, tc.altNames)
			var stderr bytes.Buffer
			ruby.Stderr = &stderr
			want, err := ruby.Output()
			if err != nil {
				t.Fatalf("Puppet: %v\n%s", err, stderr.String())
			}
			attrs, err := LoadCSRAttributes(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := createCSR("node.test", key, attrs, tc.altNames)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("CSR differs from Puppet's:\nours   %x\npuppet %x", got, want)
			}
			csr, err := x509.ParseCertificateRequest(got)
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil {
				t.Errorf("signature: %v", err)
			}
		})
	}
}

// TestCSRAttributesRefused: what Puppet refuses in csr_attributes.yaml is
// refused with its words.
func TestCSRAttributesRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"other: 1\n", `unexpected attributes ["other"] in`},
		{"- a\n", "invalid CSR attributes, expected instance of Hash, received instance of Array"},
		{"custom_attributes:\n  extReq: x\n", "Cannot specify CSR attribute extReq: conflicts with internally used CSR attribute"},
		{"custom_attributes:\n  nosuchname: x\n", "Cannot create CSR with attribute nosuchname: unknown object name"},
		{"extension_requests:\n  subjectAltName: x\n", "Cannot specify CSR extension request subjectAltName: conflicts with internally used extension request"},
		{"extension_requests:\n  pp_nosuch: x\n", "Cannot create CSR with extension request pp_nosuch: OBJ_txt2obj: unknown object name"},
		{"extension_requests:\n  pp_role: [a, b]\n", "only a string, a number or a boolean is supported"},
	} {
		file := filepath.Join(dir, "csr_attributes.yaml")
		os.WriteFile(file, []byte(tc.yaml), 0o644)
		if _, err := LoadCSRAttributes(file); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if a, err := LoadCSRAttributes(filepath.Join(dir, "absent.yaml")); a != nil || err != nil {
		t.Errorf("no file: %v, %v; want nothing", a, err)
	}
}
