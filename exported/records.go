package exported

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The retention defaults of PuppetDB 7: reports are kept for ReportTTL; a node
// that sent nothing for NodeTTL expires (its exports are withdrawn, as by
// deactivate_node); a node deactivated or expired for NodePurgeTTL is forgotten.
const (
	ReportTTL    = 14 * 24 * time.Hour
	NodeTTL      = 7 * 24 * time.Hour
	NodePurgeTTL = 14 * 24 * time.Hour
)

// catalogDoc is a node's last catalog as stored: the replace_catalog payload.
type catalogDoc struct {
	ReceiveTime time.Time       `json:"receive_time"`
	Payload     json.RawMessage `json:"payload"`
}

// Report is a store_report command, with what the node entry keeps of it.
type Report struct {
	Certname string
	Hash     string
	Latest   LatestReport // what the node entry keeps when it is the latest
	Type     string       // "agent" or "plan"
	Raw      json.RawMessage
}

// reportDoc is a report as stored: the store_report payload.
type reportDoc struct {
	Hash        string          `json:"hash"`
	ReceiveTime time.Time       `json:"receive_time"`
	Payload     json.RawMessage `json:"payload"`
}

// pack is v as JSON, gzipped: catalogs and reports are large and compress ten
// times.
func pack(v any) (string, error) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

func unpack(data []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(io.LimitReader(zr, 1<<30))
	dec.UseNumber()
	return dec.Decode(v)
}

// leases hands out one etcd lease per hour of storing, shared by the reports of
// that hour, so that a report expires between ReportTTL and an hour later without
// a lease of its own.
type leases struct {
	mu     sync.Mutex
	bucket int64
	id     clientv3.LeaseID
}

func (s *etcdStore) reportLease(ctx context.Context) (clientv3.LeaseID, error) {
	l := &s.reports
	l.mu.Lock()
	defer l.mu.Unlock()
	bucket := time.Now().Unix() / 3600
	if l.id != 0 && l.bucket == bucket {
		return l.id, nil
	}
	grant, err := s.lease.Grant(ctx, int64((s.reportTTL+time.Hour)/time.Second))
	if err != nil {
		return 0, err
	}
	l.bucket, l.id = bucket, grant.ID
	return l.id, nil
}

func (s *etcdStore) StoreReport(ctx context.Context, r *Report) error {
	if !ValidCertname(r.Certname) || r.Hash == "" || strings.Contains(r.Hash, "/") {
		return fmt.Errorf("store_report: bad certname %q or hash %q", r.Certname, r.Hash)
	}
	now := time.Now().UTC()
	doc, err := pack(reportDoc{Hash: r.Hash, ReceiveTime: now, Payload: r.Raw})
	if err != nil {
		return err
	}
	lease, err := s.reportLease(ctx)
	if err != nil {
		return err
	}
	put := clientv3.OpPut(reportKey(r.Certname, r.Hash), doc, clientv3.WithLease(lease))
	return s.updateNode(ctx, r.Certname, func(n *Node) bool {
		if r.Type == "plan" {
			return true // kept, but plan reports never become a node's latest
		}
		if n.Report == nil || r.Latest.ProducerTimestamp.After(n.Report.ProducerTimestamp) {
			latest := r.Latest
			latest.ReceiveTime = now
			n.Report = &latest
			if n.Deactivated != nil && r.Latest.ProducerTimestamp.After(*n.Deactivated) {
				n.Deactivated = nil
			}
			n.Expired = nil
		}
		return true
	}, put)
}

// Parts says which parts of the store a query reads.
type Parts uint

// The parts of a Snapshot.
const (
	PartNodes Parts = 1 << iota
	PartFacts
	PartCatalogs
	PartReports
)

// Snapshot is what the store holds, as of one revision.
type Snapshot struct {
	Nodes    []Node
	Facts    []Facts
	Catalogs []StoredCatalog
	Reports  []StoredReport
}

// StoredCatalog is a node's last catalog.
type StoredCatalog struct {
	ReceiveTime time.Time
	Payload     json.RawMessage
}

// StoredReport is a report.
type StoredReport struct {
	Hash        string
	ReceiveTime time.Time
	Payload     json.RawMessage
}

func (s *etcdStore) Snapshot(ctx context.Context, parts Parts) (*Snapshot, error) {
	snap := &Snapshot{}
	var rev int64
	get := func(dir string, each func(key string, value []byte) error) error {
		opts := []clientv3.OpOption{clientv3.WithPrefix()}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.kv.Get(ctx, dir, opts...)
		if err != nil {
			return err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := each(string(kv.Key), kv.Value); err != nil {
				return fmt.Errorf("key %s: %w", kv.Key, err)
			}
		}
		return nil
	}
	if parts&PartNodes != 0 {
		if err := get(nodesDir, func(_ string, v []byte) error {
			var n Node
			err := json.Unmarshal(v, &n)
			snap.Nodes = append(snap.Nodes, n)
			return err
		}); err != nil {
			return nil, err
		}
	}
	if parts&PartFacts != 0 {
		if err := get(factsDir, func(_ string, v []byte) error {
			var f Facts
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			err := dec.Decode(&f)
			snap.Facts = append(snap.Facts, f)
			return err
		}); err != nil {
			return nil, err
		}
	}
	if parts&PartCatalogs != 0 {
		if err := get(catalogsDir, func(_ string, v []byte) error {
			var d catalogDoc
			err := unpack(v, &d)
			snap.Catalogs = append(snap.Catalogs, StoredCatalog{ReceiveTime: d.ReceiveTime, Payload: d.Payload})
			return err
		}); err != nil {
			return nil, err
		}
	}
	if parts&PartReports != 0 {
		if err := get(reportsDir, func(_ string, v []byte) error {
			var d reportDoc
			err := unpack(v, &d)
			snap.Reports = append(snap.Reports, StoredReport{Hash: d.Hash, ReceiveTime: d.ReceiveTime, Payload: d.Payload})
			return err
		}); err != nil {
			return nil, err
		}
	}
	return snap, nil
}
