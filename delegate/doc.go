// Package delegate hands the resources of types without a native implementation to
// Puppet itself, so that any catalog runs while a site migrates. Resources that
// become ready together are applied by one `puppet apply --catalog` process, on a
// small catalog holding them and their containers (so that Puppet prints the same
// log paths), without their relationships, which the engine keeps. A refresh that is
// due is passed on by a hidden Notify that notifies the resource. What Puppet did is
// read back from its report and told to the engine as changes and log lines.
package delegate
