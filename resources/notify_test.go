package resources

import (
	"context"
	"slices"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

func TestNotify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      *Notify
		apply  bool
		logs   []string
		change engine.Change
	}{
		{"apply", NewNotify("hello world"), true, []string{"Notice: hello world"},
			engine.Change{Property: "message", Previous: "absent", Desired: "hello world", Message: "defined 'message' as 'hello world'"}},
		{"noop", NewNotify("hello world"), false, nil,
			engine.Change{Property: "message", Previous: "absent", Desired: "hello world", Message: "defined 'message' as 'hello world'"}},
		{"sensitive", &Notify{Message: "secret", Sensitive: true, Loglevel: engine.Notice}, true, []string{"Notice: Sensitive [value redacted]"},
			engine.Change{Property: "message", Previous: "[redacted]", Desired: "[redacted]", Message: "changed [redacted] to [redacted]"}},
		{"loglevel", &Notify{Message: "lv", Loglevel: engine.Warning}, true, []string{"Warning: lv"},
			engine.Change{Property: "message", Previous: "absent", Desired: "lv", Message: "defined 'message' as 'lv'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &execTestHandle{}
			if err := tc.n.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := tc.n.Init(h); err != nil {
				t.Fatal(err)
			}
			if err := tc.n.Watch(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Never in sync: the second run logs again.
			for range 2 {
				ok, err := tc.n.CheckApply(context.Background(), tc.apply)
				if ok || err != nil {
					t.Fatalf("CheckApply = %v, %v; want false, nil", ok, err)
				}
			}
			want := slices.Concat(tc.logs, tc.logs)
			if !slices.Equal(h.logs, want) {
				t.Errorf("logs %q, want %q", h.logs, want)
			}
			if len(h.changes) != 2 || h.changes[0] != tc.change {
				t.Errorf("changes %v, want %v twice", h.changes, tc.change)
			}
			if err := tc.n.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAnchor(t *testing.T) {
	var a Anchor
	h := &execTestHandle{}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := a.Init(h); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.CheckApply(context.Background(), true); !ok || err != nil {
		t.Fatalf("CheckApply = %v, %v", ok, err)
	}
	if len(h.logs)+len(h.changes) != 0 {
		t.Errorf("anchor logged %q, changed %v", h.logs, h.changes)
	}
}
