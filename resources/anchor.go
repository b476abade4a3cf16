package resources

import (
	"context"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Anchor is stdlib's anchor: a resource that does nothing, used to order classes.
type Anchor struct{}

var _ engine.Resource = (*Anchor)(nil)

// Validate accepts everything.
func (*Anchor) Validate() error { return nil }

// Init does nothing.
func (*Anchor) Init(engine.Handle) error { return nil }

// Watch does nothing.
func (*Anchor) Watch(context.Context) error { return nil }

// CheckApply is always in sync.
func (*Anchor) CheckApply(context.Context, bool) (bool, error) { return true, nil }

// Close does nothing.
func (*Anchor) Close() error { return nil }
