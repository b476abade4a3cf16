package resources

import (
	"context"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Inert is a resource that does nothing and is always in sync: the part of a type
// whose work is done elsewhere (concat's fragments, written by their file).
type Inert struct{}

var _ engine.Resource = (*Inert)(nil)

// Validate accepts everything.
func (*Inert) Validate() error { return nil }

// Init does nothing.
func (*Inert) Init(engine.Handle) error { return nil }

// Watch does nothing.
func (*Inert) Watch(context.Context) error { return nil }

// CheckApply is always in sync.
func (*Inert) CheckApply(context.Context, bool) (bool, error) { return true, nil }

// Close does nothing.
func (*Inert) Close() error { return nil }

// Anchor is stdlib's anchor: a resource that does nothing, used to order classes.
type Anchor struct{ Inert }

var _ engine.Refresher = (*Anchor)(nil)

// Refresh does nothing, but stdlib's anchor has a refresh method, so Puppet says it
// "Triggered 'refresh'" when an event reaches an anchor; so does the engine.
func (*Anchor) Refresh(context.Context, bool) error { return nil }
