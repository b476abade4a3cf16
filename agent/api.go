package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// CA requests (Puppet Server's /puppet-ca/v1, all text/plain).

// CACerts fetches the CA bundle (PEM).
func (c *Client) CACerts(ctx context.Context) ([]byte, error) {
	return c.do(ctx, request{method: http.MethodGet, path: "/puppet-ca/v1/certificate/ca", accept: acceptText})
}

// CRL fetches the CA's revocation lists (PEM).
func (c *Client) CRL(ctx context.Context, ifModifiedSince time.Time) ([]byte, error) {
	return c.do(ctx, request{method: http.MethodGet, path: "/puppet-ca/v1/certificate_revocation_list/ca", accept: acceptText,
		ifModifiedSince: ifModifiedSince})
}

// SubmitCSR sends certname's certificate request (PEM).
func (c *Client) SubmitCSR(ctx context.Context, certname string, csr []byte) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: "/puppet-ca/v1/certificate_request/" + pathEscape(certname),
		accept: acceptText, contentType: "text/plain", body: csr})
	return err
}

// Certificate fetches certname's signed certificate (PEM); a 404 means it is not
// signed yet.
func (c *Client) Certificate(ctx context.Context, certname string) ([]byte, error) {
	return c.do(ctx, request{method: http.MethodGet, path: "/puppet-ca/v1/certificate/" + pathEscape(certname), accept: acceptText})
}

// Server requests (/puppet/v3).

// NodeEnvironment asks the server which environment certname belongs to
// (GET /puppet/v3/node): only the answer's environment is used, as by puppet agent.
func (c *Client) NodeEnvironment(ctx context.Context, certname, env, configured, uuid string) (string, error) {
	data, err := c.do(ctx, request{method: http.MethodGet, path: "/puppet/v3/node/" + pathEscape(certname),
		query:  []param{{"environment", env}, {"configured_environment", configured}, {"transaction_uuid", uuid}},
		accept: acceptJSON})
	if err != nil {
		return "", err
	}
	var node struct {
		Environment string `json:"environment"`
	}
	if err := json.Unmarshal(data, &node); err != nil {
		return "", fmt.Errorf("node %s: %w", certname, err)
	}
	return node.Environment, nil
}

// EnvironmentExists probes the environment as puppet agent does before its
// pluginsync: a file_metadatas search of the plugins mount, 404 if the server has
// no such environment.
func (c *Client) EnvironmentExists(ctx context.Context, env string) (bool, error) {
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/puppet/v3/file_metadatas/plugins",
		query: []param{{"recurse", "false"}, {"links", "manage"}, {"checksum_type", "sha256"},
			{"source_permissions", "ignore"}, {"environment", env}},
		accept: acceptJSON})
	if NotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// CatalogRequest is what a catalog request sends besides the facts.
type CatalogRequest struct {
	Certname      string
	Environment   string
	Configured    string // configured_environment
	TransactionID string
	JobID         string
}

// checksumTypes is supported_checksum_types joined by dots.
const checksumTypes = "sha256.sha384.sha512.sha224.md5"

// Catalog compiles certname's catalog on the server (POST /puppet/v3/catalog)
// with facts (the wire object of Facts.JSON) and returns its JSON.
func (c *Client) Catalog(ctx context.Context, r CatalogRequest, facts []byte) ([]byte, error) {
	// The facts are escaped once here and again as a form value, as Puppet does;
	// the server unescapes twice.
	form := encode([]param{
		{"facts_format", "application/json"},
		{"facts", escape(string(facts))},
		{"environment", r.Environment},
		{"configured_environment", r.Configured},
		{"check_environment", "true"},
		{"transaction_uuid", r.TransactionID},
		{"job_uuid", r.JobID},
		{"static_catalog", "true"},
		{"checksum_type", checksumTypes},
	})
	return c.do(ctx, request{method: http.MethodPost, path: "/puppet/v3/catalog/" + pathEscape(r.Certname),
		query:  []param{{"environment", r.Environment}},
		accept: acceptCatalog, contentType: "application/x-www-form-urlencoded", body: []byte(form)})
}

// Report sends a run report (JSON, report_format 12) and returns the names of the
// report processors the server ran.
func (c *Client) Report(ctx context.Context, certname, env string, report []byte) ([]string, error) {
	data, err := c.do(ctx, request{method: http.MethodPut, path: "/puppet/v3/report/" + pathEscape(certname),
		query:  []param{{"environment", env}},
		accept: acceptJSON, contentType: "application/json", body: report})
	if err != nil {
		return nil, err
	}
	var processors []string
	_ = json.Unmarshal(data, &processors) // informational only
	return processors, nil
}

// PutFacts stores a node's facts on the server (PUT /puppet/v3/facts), as
// puppet agent sends them again at the end of a run with resubmit_facts.
func (c *Client) PutFacts(ctx context.Context, certname, env string, facts []byte) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: "/puppet/v3/facts/" + pathEscape(certname),
		query:  []param{{"environment", env}},
		accept: acceptJSON, contentType: "application/json", body: facts})
	return err
}

// FileContent fetches the content of a file served by the server: path is a
// puppet:/// URI's path ("/modules/demo/hello.txt").
func (c *Client) FileContent(ctx context.Context, path, env string) ([]byte, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("file_content %q: the path must start with /", path)
	}
	return c.do(ctx, request{method: http.MethodGet, path: "/puppet/v3/file_content" + pathEscape(path),
		query: []param{{"environment", env}}, accept: acceptBinary})
}
