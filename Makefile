# mgmt-puppet: see README.md.
GO ?= go
SHELL := /bin/bash

.PHONY: build test deps demo bench fuzz differential pdb-differential corpus drift faults clean

# build makes the lean program and, beside it, the one with exported resources
# (etcd), which the lean one hands the puppetdb command and run's etcd flags to.
build:
	$(GO) build -o bin/mgmt-puppet ./cmd/mgmt-puppet
	$(GO) build -tags exported -o bin/mgmt-puppet-exported ./cmd/mgmt-puppet

# deps installs what the tests need (real Puppet) when it is missing.
deps:
	scripts/deps.sh

# test is the command README and CI run: vet, then every test with the race detector,
# the end-to-end comparison with real puppet apply included.
test: deps
	$(GO) vet ./...
	$(GO) vet -tags exported ./cmd/...
	$(GO) test -race -count=1 -timeout 120m ./...
	$(MAKE) fuzz

# fuzz runs each fuzz test for a number of executions (make test and CI run it too):
# parsing and translating arbitrary catalogs, reading any command line's footprint,
# and decoding any PuppetDB command or query AST must never panic or hang, and every
# rejection must say why. The budgets are counts (about 10 s each on 2 cores), not
# durations: Go 1.26's fuzz coordinator can fail a duration-bounded run with "context
# deadline exceeded" when the deadline falls while a worker is busy (go.dev/issue/75804,
# fixed in Go 1.27), which failed CI once without any failing input. Minimising a new
# input is capped at FUZZMINIMIZE so that one large input cannot stall the run.
# FUZZSCALE multiplies every budget (FUZZSCALE=10 for a longer search).
FUZZSCALE ?= 1
FUZZMINIMIZE ?= 5s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $$((400000 * $(FUZZSCALE)))x -fuzzminimizetime $(FUZZMINIMIZE) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzTranslate$$' -fuzztime $$((200000 * $(FUZZSCALE)))x -fuzzminimizetime $(FUZZMINIMIZE) ./translate
	$(GO) test -run '^$$' -fuzz '^FuzzCommand$$' -fuzztime $$((150000 * $(FUZZSCALE)))x -fuzzminimizetime $(FUZZMINIMIZE) ./footprint
	$(GO) test -run '^$$' -fuzz '^FuzzParseQuery$$' -fuzztime $$((50000 * $(FUZZSCALE)))x -fuzzminimizetime $(FUZZMINIMIZE) ./exported
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime $$((40000 * $(FUZZSCALE)))x -fuzzminimizetime $(FUZZMINIMIZE) ./exported/puppetdb

demo: build
	scripts/demo.sh

# bench runs mgmt-puppet and real puppet apply on the same catalogs in one run and
# prints the comparison table (README shows the current one).
bench: deps
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime 3x -timeout 90m ./integration/ | tee bench.out
	$(GO) run ./integration/benchtable < bench.out
	set -o pipefail; $(GO) test -run '^$$' -bench 'ScaleNodes|WatchFloor' -benchtime 1x ./collect/ | tee bench-exported.out

# differential applies every fidelity case with real puppet apply and mgmt-puppet, one
# after another, and writes the agreement and time table to differential.md (README).
differential: deps
	DIFFERENTIAL_TABLE=$(CURDIR)/differential.md $(GO) test -count=1 -run '^TestMatchesPuppetApply$$' ./integration/
	cat differential.md

# pdb-differential gives the real PuppetDB 7.12.1 and mgmt-puppet the same commands
# from real Puppet, asks both the queries real tools send, and writes the table to
# docs/puppetdb-differential.md (README).
pdb-differential: deps
	PDB_DIFFERENTIAL_TABLE=$(CURDIR)/pdb-differential.md $(GO) test -count=1 -run '^TestQueriesMatchRealPuppetDB$$' ./integration/; \
	status=$$?; { echo '# The PuppetDB API beside the real PuppetDB 7.12.1'; echo; \
	  echo "Made by \`make pdb-differential\` on $$(date -u +%F) at $$(git rev-parse --short HEAD): the same commands from real Puppet"; \
	  echo "(three compiles, three puppet apply reports, one puppet node deactivate) stored in both; answers compared up to"; \
	  echo "order, hashes and receive times."; echo; cat pdb-differential.md; } > docs/puppetdb-differential.md; \
	cat docs/puppetdb-differential.md; exit $$status

# faults runs the fault suite (integration TestFaults, root: loop-mounted ext4,
# fanotify): disk full, read-only remount, SIGKILL, other writers, symlink swaps;
# the table goes to docs/faults.md (README). make test runs the same suite.
faults: deps
	FAULTS_TABLE=$(CURDIR)/faults.md $(GO) test -count=1 -run '^TestFaults$$' ./integration/; \
	status=$$?; { echo '# The apply path under faults'; echo; \
	  echo "Made by \`make faults\` on $$(date -u +%F) at $$(git rev-parse --short HEAD) (integration/faults_test.go): the catalog"; \
	  echo "fixtures/faults (2000 Files, three Hosts, two Ssh_authorized_keys, a Mount's fstab entry, File_line, Concat) on a"; \
	  echo "loop-mounted ext4 of 8 or 16 MiB, the kernel's own faults injected."; echo; cat faults.md; } > docs/faults.md; \
	cat docs/faults.md; exit $$status

# corpus translates every catalog of fixtures/corpus (compiled from Debian's
# puppet-module-* packages) and applies every case beside puppet apply in two copies
# of the real-systemd testbed (make test runs a part of it); the tables go to
# docs/corpus.md (README).
corpus: deps
	CORPUS_TABLE=$(CURDIR)/corpus.md $(GO) test -count=1 -run '^TestCorpusAccepted$$' ./integration/
	CORPUS_CASES=$${CORPUS_CASES:-all} CORPUS_TESTBED_TABLE=$(CURDIR)/corpus-testbed.md $(GO) test -count=1 -timeout 600m \
		-run '^TestCorpusMatchesPuppetInTestbed$$' ./integration/; status=$$?; \
	{ echo '# The corpus: Debian'"'"'s modules, translated and applied beside Puppet'; echo; \
	  echo "Made by \`make corpus\` on $$(date -u +%F) at $$(git rev-parse --short HEAD)."; echo; \
	  echo '## Translated (TestCorpusAccepted)'; echo; cat corpus.md; echo; \
	  echo '## Applied in the real-systemd testbed beside puppet apply (TestCorpusMatchesPuppetInTestbed)'; echo; \
	  cat corpus-testbed.md; } > docs/corpus.md; cat docs/corpus.md; exit $$status

# drift keeps corpus cases converged in the real-systemd testbed while puppet apply
# repairs the same drifts in a second copy (make test runs two cases); the table
# goes to docs/drift.md (README). CORPUS_CASES=a,b picks cases.
drift: deps
	CORPUS_CASES=$${CORPUS_CASES:-all} CORPUS_DRIFT_TABLE=$(CURDIR)/drift.md $(GO) test -count=1 -timeout 600m \
		-run '^TestCorpusDriftRepairedInTestbed$$' ./integration/; status=$$?; \
	{ echo '# The drift suite: corpus cases kept converged beside puppet apply'; echo; \
	  echo "Made by \`make drift\` on $$(date -u +%F) at $$(git rev-parse --short HEAD)."; echo; \
	  cat drift.md; } > docs/drift.md; cat docs/drift.md; exit $$status

clean:
	rm -rf bin bench.out bench-exported.out differential.md pdb-differential.md corpus.md corpus-testbed.md drift.md faults.md
