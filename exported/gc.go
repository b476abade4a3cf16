package exported

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// GCStats says what a GC did.
type GCStats struct {
	Expired, Purged int
}

func (s *etcdStore) GC(ctx context.Context, now time.Time, nodeTTL, purgeTTL time.Duration) (GCStats, error) {
	var st GCStats
	resp, err := s.kv.Get(ctx, nodesDir, clientv3.WithPrefix())
	if err != nil {
		return st, err
	}
	// A node that keeps its export lease alive (mgmt-puppet run --export-lease)
	// is seen, whether it recompiles or not.
	alive, err := s.kv.Get(ctx, aliveDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return st, err
	}
	up := map[string]bool{}
	for _, kv := range alive.Kvs {
		up[strings.TrimPrefix(string(kv.Key), aliveDir)] = true
	}
	for _, kv := range resp.Kvs {
		var n Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return st, fmt.Errorf("key %s: %w", kv.Key, err)
		}
		switch {
		case n.Active() && nodeTTL > 0 && !up[n.Certname] && !n.lastSeen().IsZero() && now.Sub(n.lastSeen()) > nodeTTL:
			var expired bool
			if expired, err = s.expire(ctx, &n, now, kv.ModRevision); expired {
				st.Expired++
			}
		case !n.Active() && purgeTTL > 0 && now.Sub(inactiveSince(&n)) > purgeTTL:
			err = s.purge(ctx, n.Certname, kv.ModRevision)
			st.Purged++
		}
		if err != nil {
			return st, fmt.Errorf("node %s: %w", n.Certname, err)
		}
	}
	return st, nil
}

func inactiveSince(n *Node) time.Time {
	if n.Deactivated != nil {
		return *n.Deactivated
	}
	return *n.Expired
}

// expire marks the node expired and withdraws its exports, in one transaction
// that only goes through if the node entry is still the one read at rev: a
// command that arrived since keeps the node active, with its exports.
func (s *etcdStore) expire(ctx context.Context, n *Node, now time.Time, rev int64) (bool, error) {
	at := now.UTC()
	n.Expired, n.Exports = &at, 0
	data, err := json.Marshal(n)
	if err != nil {
		return false, err
	}
	drop, err := s.dropExports(ctx, n.Certname)
	if err != nil {
		return false, err
	}
	resp, err := s.kv.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(nodeKey(n.Certname)), "=", rev)).Then(
		append(drop, clientv3.OpPut(nodeKey(n.Certname), string(data)))...).Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// purge forgets a node: everything stored of it, in one transaction that only
// goes through if the node entry has not changed (a command revives a node).
func (s *etcdStore) purge(ctx context.Context, certname string, rev int64) error {
	drop, err := s.dropExports(ctx, certname)
	if err != nil {
		return err
	}
	ops := append(drop, clientv3.OpDelete(nodeKey(certname)), clientv3.OpDelete(factsKey(certname)),
		clientv3.OpDelete(catalogKey(certname)), clientv3.OpDelete(leasedDir+certname),
		clientv3.OpDelete(reportsDir+certname+"/", clientv3.WithPrefix()),
		clientv3.OpDelete(collectorsDir+certname+"/", clientv3.WithPrefix()))
	_, err = s.kv.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(nodeKey(certname)), "=", rev)).Then(ops...).Commit()
	return err
}
