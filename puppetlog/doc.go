// Package puppetlog prints what the engine does in Puppet's console format
// (`Notice: /Stage[main]/Main/File[/x]/ensure: created`), so that operators and their
// log scrapers see the lines they know from `puppet apply`.
package puppetlog
