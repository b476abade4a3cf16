package resources

import (
	"context"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Notify logs its message on every run, as Puppet's notify does: its message
// property is never in sync.
type Notify struct {
	Message string
	// Withpath logs the message against the resource's message property instead of
	// as a bare line.
	Withpath bool
	// Sensitive logs "Sensitive [value redacted]" and redacts the change.
	Sensitive bool
	// Loglevel is the level of the message (Puppet's loglevel metaparameter; NewNotify
	// sets notice, the zero value is Debug).
	Loglevel engine.Level

	h engine.Handle
}

var _ engine.Resource = (*Notify)(nil)

// NewNotify returns a Notify of message at level notice.
func NewNotify(message string) *Notify {
	return &Notify{Message: message, Loglevel: engine.Notice}
}

// Validate accepts everything.
func (n *Notify) Validate() error { return nil }

// Init keeps the handle.
func (n *Notify) Init(h engine.Handle) error {
	n.h = h
	return nil
}

// Watch does nothing: there is no state.
func (n *Notify) Watch(ctx context.Context) error { return nil }

// Close does nothing.
func (n *Notify) Close() error { return nil }

// CheckApply is never in sync. With apply it logs the message, then tells the change
// (message from absent to the message); without, it only tells the change.
func (n *Notify) CheckApply(ctx context.Context, apply bool) (bool, error) {
	c := engine.Change{
		Property: "message",
		Previous: "absent",
		Desired:  n.Message,
		Message:  "defined 'message' as " + engine.PuppetString(n.Message),
	}
	line := n.Message
	if n.Sensitive {
		c.Previous, c.Desired = "[redacted]", "[redacted]"
		c.Message = "changed [redacted] to [redacted]"
		line = "Sensitive [value redacted]"
	}
	if apply {
		if n.Withpath {
			n.h.PropertyLogf(n.Loglevel, "message", "%s", line)
		} else {
			n.h.Printf(n.Loglevel, "%s", line)
		}
	}
	n.h.Change(c)
	return false, nil
}
