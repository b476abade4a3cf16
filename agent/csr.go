package agent

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// CSRAttributes are what csr_attributes.yaml asks to be put in the node's
// certificate request, in the file's order: custom attributes (a challenge
// password for an autosign policy, say) and extension requests (pp_role and
// the other trusted facts, which the CA copies into the certificate).
type CSRAttributes struct {
	Custom     []CSRAttribute
	Extensions []CSRAttribute
}

// CSRAttribute is one entry: the name as written and its OID.
type CSRAttribute struct {
	Name  string
	OID   asn1.ObjectIdentifier
	Value string
}

// LoadCSRAttributes reads csr_attributes.yaml as Puppet's
// CertificateRequestAttributes does; nil when the file does not exist. Names are
// dotted OIDs, the names Puppet registers (pp_role...) or the PKCS #9 attribute
// names; values are strings (numbers and booleans as Ruby's to_s writes them).
func LoadCSRAttributes(path string) (*CSRAttributes, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	a := &CSRAttributes{}
	if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
		return a, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("invalid CSR attributes, expected instance of Hash, received instance of %s", rubyClass(root))
	}
	var unexpected []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		var into *[]CSRAttribute
		switch key {
		case "custom_attributes":
			into = &a.Custom
		case "extension_requests":
			into = &a.Extensions
		default:
			unexpected = append(unexpected, strconv.Quote(key))
			continue
		}
		if val.Tag == "!!null" {
			continue
		}
		if val.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: %s: want a hash of names and values", path, key)
		}
		for j := 0; j+1 < len(val.Content); j += 2 {
			name := val.Content[j].Value
			v, err := rubyToS(val.Content[j+1])
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %s: %w", path, key, name, err)
			}
			*into = append(*into, CSRAttribute{Name: name, Value: v})
		}
	}
	if len(unexpected) > 0 {
		return nil, fmt.Errorf("unexpected attributes [%s] in %q", strings.Join(unexpected, ", "), path)
	}
	for i := range a.Custom {
		c := &a.Custom[i]
		if slices.Contains(privateCSRAttributes, c.Name) {
			return nil, fmt.Errorf("Cannot specify CSR attribute %s: conflicts with internally used CSR attribute", c.Name)
		}
		if c.OID = lookupOID(c.Name, attributeNames); c.OID == nil {
			return nil, fmt.Errorf("Cannot create CSR with attribute %s: unknown object name", c.Name)
		}
	}
	for i := range a.Extensions {
		e := &a.Extensions[i]
		if e.Name == "subjectAltName" || e.Name == "2.5.29.17" {
			return nil, fmt.Errorf("Cannot specify CSR extension request %s: conflicts with internally used extension request", e.Name)
		}
		if e.OID = lookupOID(e.Name, nil); e.OID == nil {
			return nil, fmt.Errorf("Cannot create CSR with extension request %s: OBJ_txt2obj: unknown object name", e.Name)
		}
	}
	return a, nil
}

// rubyToS is a YAML scalar as Ruby's to_s writes the value Psych loads.
func rubyToS(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", errors.New("only a string, a number or a boolean is supported as a value")
	}
	switch n.Tag {
	case "!!str":
		return n.Value, nil
	case "!!null":
		return "", nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return "", err
		}
		return strconv.FormatBool(b), nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return "", err
		}
		return strconv.FormatInt(i, 10), nil
	}
	return "", fmt.Errorf("a value of type %s is not supported", n.Tag)
}

// rubyClass names the class Psych gives a YAML node, for Puppet's error.
func rubyClass(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode:
		return "Array"
	case n.Tag == "!!int":
		return "Integer"
	case n.Tag == "!!float":
		return "Float"
	case n.Tag == "!!bool" && n.Value == "true":
		return "TrueClass"
	case n.Tag == "!!bool":
		return "FalseClass"
	}
	return "String"
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// privateCSRAttributes are the attributes Puppet puts in itself.
var privateCSRAttributes = []string{"extReq", "1.2.840.113549.1.9.14", "msExtReq", "1.3.6.1.4.1.311.2.1.14"}

// puppetOIDs are the names Puppet registers with OpenSSL before it makes a CSR
// (Puppet::SSL::Oids::PUPPET_OIDS): short name and long name.
var puppetOIDs = []struct{ oid, short, long string }{
	{"1.3.6.1.4.1.34380", "puppetlabs", "Puppet Labs"},
	{"1.3.6.1.4.1.34380.1", "ppCertExt", "Puppet Certificate Extension"},
	{"1.3.6.1.4.1.34380.1.1", "ppRegCertExt", "Puppet Registered Certificate Extension"},
	{"1.3.6.1.4.1.34380.1.1.1", "pp_uuid", "Puppet Node UUID"},
	{"1.3.6.1.4.1.34380.1.1.2", "pp_instance_id", "Puppet Node Instance ID"},
	{"1.3.6.1.4.1.34380.1.1.3", "pp_image_name", "Puppet Node Image Name"},
	{"1.3.6.1.4.1.34380.1.1.4", "pp_preshared_key", "Puppet Node Preshared Key"},
	{"1.3.6.1.4.1.34380.1.1.5", "pp_cost_center", "Puppet Node Cost Center Name"},
	{"1.3.6.1.4.1.34380.1.1.6", "pp_product", "Puppet Node Product Name"},
	{"1.3.6.1.4.1.34380.1.1.7", "pp_project", "Puppet Node Project Name"},
	{"1.3.6.1.4.1.34380.1.1.8", "pp_application", "Puppet Node Application Name"},
	{"1.3.6.1.4.1.34380.1.1.9", "pp_service", "Puppet Node Service Name"},
	{"1.3.6.1.4.1.34380.1.1.10", "pp_employee", "Puppet Node Employee Name"},
	{"1.3.6.1.4.1.34380.1.1.11", "pp_created_by", "Puppet Node created_by Tag"},
	{"1.3.6.1.4.1.34380.1.1.12", "pp_environment", "Puppet Node Environment Name"},
	{"1.3.6.1.4.1.34380.1.1.13", "pp_role", "Puppet Node Role Name"},
	{"1.3.6.1.4.1.34380.1.1.14", "pp_software_version", "Puppet Node Software Version"},
	{"1.3.6.1.4.1.34380.1.1.15", "pp_department", "Puppet Node Department Name"},
	{"1.3.6.1.4.1.34380.1.1.16", "pp_cluster", "Puppet Node Cluster Name"},
	{"1.3.6.1.4.1.34380.1.1.17", "pp_provisioner", "Puppet Node Provisioner Name"},
	{"1.3.6.1.4.1.34380.1.1.18", "pp_region", "Puppet Node Region Name"},
	{"1.3.6.1.4.1.34380.1.1.19", "pp_datacenter", "Puppet Node Datacenter Name"},
	{"1.3.6.1.4.1.34380.1.1.20", "pp_zone", "Puppet Node Zone Name"},
	{"1.3.6.1.4.1.34380.1.1.21", "pp_network", "Puppet Node Network Name"},
	{"1.3.6.1.4.1.34380.1.1.22", "pp_securitypolicy", "Puppet Node Security Policy Name"},
	{"1.3.6.1.4.1.34380.1.1.23", "pp_cloudplatform", "Puppet Node Cloud Platform Name"},
	{"1.3.6.1.4.1.34380.1.1.24", "pp_apptier", "Puppet Node Application Tier"},
	{"1.3.6.1.4.1.34380.1.1.25", "pp_hostname", "Puppet Node Hostname"},
	{"1.3.6.1.4.1.34380.1.1.26", "pp_owner", "Puppet Node Owner"},
	{"1.3.6.1.4.1.34380.1.2", "ppPrivCertExt", "Puppet Private Certificate Extension"},
	{"1.3.6.1.4.1.34380.1.3", "ppAuthCertExt", "Puppet Certificate Authorization Extension"},
	{"1.3.6.1.4.1.34380.1.3.1", "pp_authorization", "Certificate Extension Authorization"},
	{"1.3.6.1.4.1.34380.1.3.13", "pp_auth_role", "Puppet Node Role Name for Authorization"},
}

// attributeNames are OpenSSL's names of the PKCS #9 attributes a CSR carries.
var attributeNames = map[string]string{
	"emailAddress": "1.2.840.113549.1.9.1", "unstructuredName": "1.2.840.113549.1.9.2",
	"challengePassword": "1.2.840.113549.1.9.7", "unstructuredAddress": "1.2.840.113549.1.9.8",
}

// lookupOID resolves a name as OpenSSL's OBJ_txt2obj does for Puppet: a dotted
// OID, or a registered name; nil when unknown.
func lookupOID(name string, extra map[string]string) asn1.ObjectIdentifier {
	if oid, ok := parseOID(name); ok {
		return oid
	}
	for _, p := range puppetOIDs {
		if name == p.short || name == p.long {
			oid, _ := parseOID(p.oid)
			return oid
		}
	}
	if s, ok := extra[name]; ok {
		oid, _ := parseOID(s)
		return oid
	}
	return nil
}

func parseOID(s string) (asn1.ObjectIdentifier, bool) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, false
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p != strconv.Itoa(n) {
			return nil, false
		}
		oid[i] = n
	}
	return oid, oid[0] <= 2
}

// createCSR makes the node's certificate request as Puppet's CertificateRequest
// does: subject CN=certname; each extension request as a non-critical extension
// holding a UTF8String, in the extReq attribute, then the subjectAltName of
// dns_alt_names; each custom attribute as a SET of one PrintableString.
func createCSR(certname string, key crypto.Signer, attrs *CSRAttributes, dnsAltNames string) ([]byte, error) {
	// The subject's CN is a UTF8String, as OpenSSL::X509::Name.new writes it
	// (Go would write a PrintableString).
	subject, err := asn1.Marshal(pkix.RDNSequence{{{Type: oidCommonName,
		Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(certname)}}}})
	if err != nil {
		return nil, err
	}
	tmpl := &x509.CertificateRequest{RawSubject: subject, SignatureAlgorithm: signatureAlgorithm(key)}
	if attrs != nil {
		for _, e := range attrs.Extensions {
			v, err := asn1.MarshalWithParams(e.Value, "utf8")
			if err != nil {
				return nil, err
			}
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: e.OID, Value: v})
		}
	}
	if dnsAltNames != "" {
		san, err := subjectAltNames(certname, dnsAltNames)
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, san)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil || attrs == nil || len(attrs.Custom) == 0 {
		return der, err
	}
	return withAttributes(der, key, attrs.Custom)
}

// csrOuter and csrInfo are PKCS #10's CertificationRequest and its
// CertificationRequestInfo, with what is not changed kept raw.
type csrOuter struct {
	Info      asn1.RawValue
	Algorithm asn1.RawValue
	Signature asn1.BitString
}

type csrInfo struct {
	Version    int
	Subject    asn1.RawValue
	PublicKey  asn1.RawValue
	Attributes []asn1.RawValue `asn1:"tag:0,set"`
}

// withAttributes adds custom attributes to the request Go made (which cannot
// hold them) and signs it again with the same algorithm. The attributes are a
// DER SET OF: sorted by their encodings, as OpenSSL writes them.
func withAttributes(der []byte, key crypto.Signer, custom []CSRAttribute) ([]byte, error) {
	var outer csrOuter
	if _, err := asn1.Unmarshal(der, &outer); err != nil {
		return nil, err
	}
	var info csrInfo
	if _, err := asn1.Unmarshal(outer.Info.FullBytes, &info); err != nil {
		return nil, err
	}
	for _, c := range custom {
		// Ruby's OpenSSL::ASN1::PrintableString takes any bytes.
		value := asn1.RawValue{Tag: asn1.TagPrintableString, Bytes: []byte(c.Value)}
		enc, err := asn1.Marshal(struct {
			Type   asn1.ObjectIdentifier
			Values []asn1.RawValue `asn1:"set"`
		}{c.OID, []asn1.RawValue{value}})
		if err != nil {
			return nil, err
		}
		info.Attributes = append(info.Attributes, asn1.RawValue{FullBytes: enc})
	}
	slices.SortFunc(info.Attributes, func(a, b asn1.RawValue) int { return bytes.Compare(a.FullBytes, b.FullBytes) })
	infoDER, err := asn1.Marshal(info)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(infoDER) // signatureAlgorithm's algorithms hash with SHA-256
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(csrOuter{Info: asn1.RawValue{FullBytes: infoDER}, Algorithm: outer.Algorithm,
		Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
}

// subjectAltNames is the extension Puppet asks for with dns_alt_names: the names,
// split at commas, and the certname, each "DNS:" unless it says "IP:", sorted
// as strings, duplicates dropped.
func subjectAltNames(certname, dnsAltNames string) (pkix.Extension, error) {
	names := []string{certname}
	for _, n := range strings.Split(dnsAltNames, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	for i, n := range names {
		if !strings.HasPrefix(n, "IP:") && !strings.HasPrefix(n, "DNS:") {
			names[i] = "DNS:" + n
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var general []asn1.RawValue
	for _, n := range names {
		if ip, ok := strings.CutPrefix(n, "IP:"); ok {
			addr, err := netip.ParseAddr(ip)
			if err != nil {
				return pkix.Extension{}, fmt.Errorf("dns_alt_names: %s: not an IP address", n)
			}
			general = append(general, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: addr.AsSlice()})
			continue
		}
		general = append(general, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(strings.TrimPrefix(n, "DNS:"))})
	}
	v, err := asn1.Marshal(general)
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: v}, err
}
