package translate

import "github.com/mgmt-puppet/mgmt-puppet/catalog"

// fingerprinter digests a resource's type, title and parameters into a vertex
// Fingerprint: two resources have the same one when, and only when (up to
// SHA-256), they ask for the same state (catalog.Digest). One fingerprinter is
// reused for a whole catalog.
type fingerprinter struct{ d catalog.Digest }

func (f *fingerprinter) sum(r *catalog.Resource) string {
	f.d.Reset()
	f.d.String(r.Type)
	f.d.String(r.Title)
	f.d.Value(r.Parameters)
	return string(f.d.Sum()[:16])
}
