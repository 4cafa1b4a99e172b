# nine-harness: `make run` runs the main job, `make test` the test suite.
# Both set themselves up: a venv in .venv with the Python deps, and (when root
# on Debian) QEMU, golang-go, mtools and U-Boot from apt.

PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SYSSTAMP := .sysdeps-installed
APT_PKGS := qemu-system-x86 qemu-system-arm qemu-system-mips qemu-utils golang-go mtools u-boot-qemu gcc binutils-x86-64-linux-gnu binutils-aarch64-linux-gnu binutils-mips-linux-gnu chromium chromium-driver openssh-server
# Pass KERNEL=path/to/9pc64 ARCH=amd64 (and optionally AGENT=, PROFILE=, JOBS=) to run on a real kernel,
# or IMAGE=NAME for a kernel, ISO or disk named in images/*.toml (fetched and sha256-checked),
# or ISO=9front-NNNNN.amd64.iso.gz (a release ISO) or DISK=9front.qcow2 (an installed image, only read).
ARCH    ?=
KERNEL  ?=
IMAGE   ?=
ISO     ?=
DISK    ?=
AGENT   ?=
PROFILE ?=
JOBS    ?= 1
RESULTS ?= results

.PHONY: run test setup sysdeps lint typecheck bench clean gen

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,ssh]'
	touch $(STAMP)

# System packages: only attempted as root on a Debian-like system; otherwise
# we say what is missing and carry on (tests that need them skip with a reason
# outside CI, and fail inside CI).
sysdeps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	else echo "not root or no apt-get: install $(APT_PKGS) yourself for the QEMU and a.out tests"; fi

run: setup sysdeps
	$(BIN)/harness run --results $(RESULTS) \
		$(if $(ARCH),--arch $(ARCH)) $(if $(KERNEL),--kernel $(KERNEL)) $(if $(IMAGE),--image $(IMAGE)) \
		$(if $(ISO),--iso $(ISO)) $(if $(DISK),--disk $(DISK)) \
		$(if $(AGENT),--agent $(AGENT)) \
		$(if $(PROFILE),--profile $(PROFILE)) --jobs $(JOBS)

lint: setup
	$(BIN)/ruff check harness tests benchmarks conftest.py
	$(BIN)/mypy
	$(BIN)/python -m harness.ops --check

# Regenerate what harness/ops (the catalogue of operations) describes: the
# agent's ops.h, the host build's compat/calls.h and answers.h, docs/SCENARIOS.md's reference.
gen: setup
	$(BIN)/python -m harness.ops --write

test: setup sysdeps lint
	$(BIN)/pytest -q -n 2 tests

# One table and results/bench/bench.json; KERNEL= (and ARCH=) measure boot_ratio on a real kernel.
bench: setup sysdeps
	$(BIN)/python -m benchmarks $(if $(KERNEL),--kernel $(KERNEL)) $(if $(ARCH),--arch $(ARCH))

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
