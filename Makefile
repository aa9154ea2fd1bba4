# zoneshift's task runner: the README's commands are recipes here.
SHELL := /bin/bash
ENV := eval "$$(scripts/test-env env)" && eval "$$(scripts/dns-world env)"
ENV_KUBE := eval "$$(scripts/test-env env)"

.PHONY: fuzz vocabulary demo test test-kube test-kube-oldest test-faults replay replay-rules test-packaging test-env test-env-down lint audit crd bench bench-fleet

## The main job on local defaults: every stand-in up, a whole migration of example.com run
## end to end (import, verify, gate, approval, switch, soak, completion), phases printed.
demo:
	scripts/test-env up
	scripts/dns-world up
	cargo build --quiet
	$(ENV) && scripts/demo

## Install what the tests need, start the stand-ins, run every test.
test:
	scripts/test-env up
	scripts/dns-world up
	$(ENV) && cargo test --locked
	cargo build --locked --quiet
	$(MAKE) test-kube
	$(MAKE) test-faults ZS_FAULT_SCHEDULES=5 ZS_FAULT_KUBE_RESTART_RATE=0 ZS_FAULT_CUTOVER_RATE=0
	tests/dns-world/smoke.sh
	$(ENV) && .venv/bin/python scripts/replay.py naive && .venv/bin/python scripts/replay.py zoneshift && .venv/bin/python scripts/replay.py early-flush
	$(MAKE) test-packaging

## The real binary against the real kube-apiserver of scripts/test-env: what only a real server
## answers (CRD, CEL, rejections, server-side apply, size, least privilege), a migration's
## lifecycle, leader election with two processes, and the Helm chart installed by helm.
test-kube:
	scripts/test-env up
	cargo build --locked --quiet
	$(ENV) && tests/e2e/apiserver.sh && tests/e2e/operator-e2e.sh && tests/e2e/leader-election.sh && tests/e2e/helm-install.sh

## Seeded fault schedules over a migration's whole life (tests/faults/run.py): Route 53 faults
## from the proxy of tests/faults/r53proxy.py, the operator killed with SIGKILL, the
## kube-apiserver restarted. A share of the schedules (ZS_FAULT_CUTOVER_RATE, picked by the
## seed) migrate example.net in the DNS world through the cutover to completion, so the world
## is started serving example.net too. ZS_FAULT_SCHEDULES=100 for the full run (about an hour
## with half of them through the cutover: 40 to 50 s each with Retain, 80 to 90 s with Delete,
## which waits for the delegation to leave); `make test` runs 5 without the cutover and without
## restarting the kube-apiserver (about 35 seconds; a restart adds 10 to 60 seconds to its
## schedule). docs/reliability.md, "Faults".
ZS_FAULT_SCHEDULES ?= 100
ZS_FAULT_KUBE_RESTART_RATE ?= 0.25
ZS_FAULT_CUTOVER_RATE ?= 0.5
test-faults:
	scripts/test-env up
	[ "$(ZS_FAULT_CUTOVER_RATE)" = 0 ] || ZS_WORLD_DOMAINS="example.com example.net" scripts/dns-world up
	cargo build --locked --quiet
	$(ENV_KUBE) && .venv/bin/python tests/faults/run.py --schedules $(ZS_FAULT_SCHEDULES) --kube-restart-rate $(ZS_FAULT_KUBE_RESTART_RATE) --cutover-rate $(ZS_FAULT_CUTOVER_RATE)

## The same against Kubernetes 1.32, the oldest zoneshift supports (a second build, about 4 min
## the first time). Restarts the stand-ins: test-env runs one kube-apiserver at a time.
test-kube-oldest:
	scripts/test-env down
	ZS_KUBE_VERSION=1.32 $(MAKE) test-kube; rc=$$?; scripts/test-env down; exit $$rc

## The outage replay of docs/cutover-replay.md in the DNS world: the naive cutover, zoneshift's
## and an early flush, then the timeline picture (docs/cutover-replay.svg) and the table.
replay:
	scripts/test-env up
	scripts/dns-world up
	cargo build --locked --quiet
	.venv/bin/python scripts/replay.py naive
	.venv/bin/python scripts/replay.py zoneshift
	.venv/bin/python scripts/replay.py early-flush
	.venv/bin/python scripts/replay.py svg
	.venv/bin/python scripts/replay.py summary

## The rules of the cutover replayed (docs/cutover-replay.md, "The rules, replayed"): each flow
## run naive (the control: it must fail users) and as zoneshift times it (it must fail none),
## with Unbound as the user's resolver, and the delete flow with BIND too. About 6 minutes.
RULE_FLOWS := switch-first lowered-first-look rollback-soak delete-after-switch
replay-rules:
	scripts/test-env up
	scripts/dns-world up
	cargo build --locked --quiet
	$(ENV) && for f in $(RULE_FLOWS); do .venv/bin/python scripts/replay.py $$f naive && .venv/bin/python scripts/replay.py $$f zoneshift || exit 1; done
	$(ENV) && .venv/bin/python scripts/replay.py delete-after-switch naive --resolver bind && .venv/bin/python scripts/replay.py delete-after-switch zoneshift --resolver bind
	.venv/bin/python scripts/replay.py rules-summary

## The Helm chart, deploy/, the IAM policy, the Argo CD health check, the Dockerfile and the
## docs, checked against the code (tests/packaging/; needs lua5.4).
test-packaging:
	scripts/test-env up
	command -v lua5.4 >/dev/null && command -v lua5.1 >/dev/null || { apt-get update -q && apt-get install -y -q lua5.4 lua5.1; }
	tests/packaging/run

## Formatting, lints, the generated CRD and the dependency rules of deny.toml (CI runs these too).
## Licences and sources over everything built; bans over what the binary links (the tests'
## kube-fake-client brings ring back through kube's default features).
lint:
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings
	cargo run --quiet -- crd | diff -u crds/hostedzonemigration.yaml - || { echo "crds/ drifted: run make crd"; exit 1; }
	@command -v cargo-deny >/dev/null || { echo "cargo-deny is missing: cargo install cargo-deny --locked"; exit 1; }
	cargo deny --locked check licenses sources
	cargo deny --locked --exclude-dev check bans

## The RustSec advisories. The database is fetched from GitHub, which CI's machines cannot
## reach, so this is not part of lint (docs/reliability.md, "Dependencies").
audit:
	cargo deny --locked check advisories

## Regenerate crds/ from src/api/, and its copies in the chart and deploy/.
crd:
	cargo run --quiet -- crd > crds/hostedzonemigration.yaml
	cp crds/hostedzonemigration.yaml charts/zoneshift/crds/hostedzonemigration.yaml
	cp crds/hostedzonemigration.yaml deploy/crds/hostedzonemigration.yaml

## Route 53 calls and wall time of syncs (docs/benchmarks.md).
bench:
	scripts/test-env up
	$(ENV) && cargo bench --locked --bench sync_calls

## A fleet under one request budget (docs/benchmarks.md): ZS_FLEET_MIGRATIONS (200) migrations of
## ZS_FLEET_RECORDS (1,000) records applied at once to one operator at ZS_FLEET_RPS (5) requests a
## second, its Route 53 behind a proxy that enforces the same budget. About 4 minutes at 5/s, plus
## the clean-up. Uses ZS_BIN, else a release build newer than src/, else the debug build.
bench-fleet:
	scripts/test-env up
	[[ -n "$${ZS_BIN:-}" ]] || cargo build --locked --quiet
	$(ENV_KUBE) && .venv/bin/python benches/fleet.py

test-env:
	scripts/test-env up

test-env-down:
	scripts/dns-world down
	scripts/test-env down

## Regenerate the generated tables of deploy/argocd/health.lua (and its argocd-cm copy) from
## src/api/vocabulary.rs; tests/vocabulary.rs fails while they differ.
vocabulary:
	ZS_BLESS=1 cargo test --quiet --test vocabulary

## Each fuzz target of fuzz/ for FUZZ_SECONDS (default 60), starting from its committed corpus
## (fuzz/README.md). The stable toolchain, no sanitizer (-s none: zoneshift forbids unsafe);
## installs cargo-fuzz when missing. A failure stops it and leaves the input in
## fuzz/artifacts/TARGET/. New corpus entries go to fuzz/target/corpus/ (ignored by git), never
## into the committed corpus.
FUZZ_TARGETS := zone_file record_value spec dns_message
FUZZ_SECONDS ?= 60
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version '~0.13.2'
	cargo fuzz build -s none
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/target/corpus/$$t && \
	  cargo fuzz run -s none $$t fuzz/target/corpus/$$t fuzz/corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=30 -print_final_stats=1 || exit 1; \
	done
