package systemd

import (
	"context"
	"sync"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Manager is a connection to systemd and its watchers.
type Manager struct {
	Conn *sd.Conn

	mu     sync.Mutex
	subs   map[string]map[int]func() // by unit name
	nextID int
}

var shared struct {
	once sync.Once
	m    *Manager
	err  error
}

// Default is the process's shared manager, connected on first use to the system
// bus (DBUS_SYSTEM_BUS_ADDRESS when set).
func Default() (*Manager, error) {
	shared.once.Do(func() {
		shared.m, shared.err = New(context.Background())
	})
	return shared.m, shared.err
}

// New connects to the system bus and subscribes to systemd's signals.
func New(ctx context.Context) (*Manager, error) {
	conn, err := sd.NewSystemConnectionContext(ctx)
	if err != nil {
		return nil, err
	}
	if err := conn.Subscribe(); err != nil {
		conn.Close()
		return nil, err
	}
	m := &Manager{Conn: conn, subs: map[string]map[int]func(){}}
	updates := make(chan *sd.PropertiesUpdate, 256)
	errs := make(chan error, 1)
	conn.SetPropertiesSubscriber(updates, errs)
	go m.dispatch(updates, errs)
	if err := m.watchUnitFiles(); err != nil {
		conn.Close()
		return nil, err
	}
	return m, nil
}

// watchUnitFiles pokes every watcher when unit files change (enable, disable,
// mask) or systemd reloads: those come as Manager signals, not as a unit's
// PropertiesChanged.
func (m *Manager) watchUnitFiles() error {
	bus, err := dbus.SystemBusPrivate()
	if err != nil {
		return err
	}
	if err := bus.Auth(nil); err != nil {
		bus.Close()
		return err
	}
	if err := bus.Hello(); err != nil {
		bus.Close()
		return err
	}
	for _, member := range []string{"UnitFilesChanged", "Reloading"} {
		if err := bus.AddMatchSignal(dbus.WithMatchInterface("org.freedesktop.systemd1.Manager"),
			dbus.WithMatchMember(member)); err != nil {
			bus.Close()
			return err
		}
	}
	signals := make(chan *dbus.Signal, 64)
	bus.Signal(signals)
	go func() {
		for range signals {
			m.poke(func(string) bool { return true })
		}
	}()
	return nil
}

// dispatch pokes the watchers of each unit whose properties changed. When
// signals were dropped (the channel was full), every watcher is poked: each then
// reads its unit's real state.
func (m *Manager) dispatch(updates <-chan *sd.PropertiesUpdate, errs <-chan error) {
	for {
		select {
		case u, ok := <-updates:
			if !ok {
				return
			}
			m.poke(func(unit string) bool { return unit == u.UnitName })
		case _, ok := <-errs:
			if !ok {
				return
			}
			m.poke(func(string) bool { return true })
		}
	}
}

func (m *Manager) poke(match func(string) bool) {
	m.mu.Lock()
	var fns []func()
	for unit, subs := range m.subs {
		if match(unit) {
			for _, fn := range subs {
				fns = append(fns, fn)
			}
		}
	}
	m.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Watch calls fn whenever systemd reports a change of unit's properties, until
// cancel is called. fn must not block.
func (m *Manager) Watch(unit string, fn func()) (cancel func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextID
	m.nextID++
	if m.subs[unit] == nil {
		m.subs[unit] = map[int]func(){}
	}
	m.subs[unit][id] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs[unit], id)
		if len(m.subs[unit]) == 0 {
			delete(m.subs, unit)
		}
	}
}
