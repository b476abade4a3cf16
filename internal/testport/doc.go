// Package testport hands tests loopback addresses that were free a moment ago,
// never the same one twice in a process. The kernel may give a port that was
// just released to the next bind on port 0, so two addresses picked one after
// the other (an etcd client and peer URL, an API port) could otherwise be the
// same, and the second server would fail with "address already in use".
package testport
