// Package translate turns a Puppet catalog into an engine graph: containers are
// expanded the way Puppet's relationship graph does it, relationships and autorequires
// become edges, and each resource of a native type becomes a typed resource of package
// resources. It is the only package that knows both Puppet and the engine.
package translate
