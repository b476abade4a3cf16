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

	mu   sync.Mutex
	subs map[string]map[int]func() // by unit name, as watched
	// ids maps a watched name to its unit's own name when it is an alias
	// (bind9.service of named.service): systemd signals under the unit's name.
	ids    map[string]string
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
	m := &Manager{Conn: conn, subs: map[string]map[int]func(){}, ids: map[string]string{}}
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
			// An alias may now name another unit, or a unit that exists now.
			m.mu.Lock()
			names := make([]string, 0, len(m.subs))
			for unit := range m.subs {
				names = append(names, unit)
			}
			m.mu.Unlock()
			for _, unit := range names {
				m.resolve(unit)
			}
			m.poke(func(string) bool { return true })
		}
	}()
	return nil
}

// resolve asks systemd which unit unit names, for Names.
func (m *Manager) resolve(unit string) {
	if p, err := m.Conn.GetUnitPropertyContext(context.Background(), unit, "Id"); err == nil {
		if id, ok := p.Value.Value().(string); ok && id != "" {
			m.Names(unit, id)
		}
	}
}

// Names records that unit names the unit id (its Id property): an alias when
// they differ. A watcher that reads the unit's properties anyway tells it here,
// so that an alias made after its watch began (a package installed) is followed.
func (m *Manager) Names(unit, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case id == unit:
		delete(m.ids, unit)
	case m.subs[unit] != nil:
		m.ids[unit] = id
	}
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
			m.poke(func(unit string) bool { return unit == u.UnitName || m.ids[unit] == u.UnitName })
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
// cancel is called; unit may be an alias of the unit systemd signals about. fn
// must not block.
func (m *Manager) Watch(unit string, fn func()) (cancel func()) {
	m.mu.Lock()
	id := m.nextID
	m.nextID++
	if m.subs[unit] == nil {
		m.subs[unit] = map[int]func(){}
	}
	m.subs[unit][id] = fn
	m.mu.Unlock()
	m.resolve(unit)
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs[unit], id)
		if len(m.subs[unit]) == 0 {
			delete(m.subs, unit)
			delete(m.ids, unit)
		}
	}
}
