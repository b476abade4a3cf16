// Package systemd is the process's one connection to systemd over D-Bus, shared by
// every Service resource, with a dispatcher that turns systemd's PropertiesChanged
// signals into pokes for the units that watch them. It listens to signals only:
// nothing is polled (go-systemd's SubscribeUnits polls and is not used).
package systemd
