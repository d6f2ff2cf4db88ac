# pocketkube: `make run` starts a one-node cluster, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/data
DEBIAN_PACKAGES := etcd-server etcd-client containernetworking-plugins iproute2 iptables

.PHONY: run test lint bench deps system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The Python dependencies, reinstalled when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

deps: $(VENV)/.installed

# Debian packages the tests use; installed only when we are root (CI is).
system-deps:
	@if [ "$$(id -u)" = 0 ]; then \
		missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		fi; \
	else echo "not root: skipping Debian packages ($(DEBIAN_PACKAGES)); tests that need them will skip"; fi

run: deps
	$(BIN)/pocketkube server --data-dir $(DATA_DIR)

lint: deps
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

test: deps system-deps lint
	$(BIN)/pytest -q -p no:cacheprovider tests

bench: deps system-deps
	$(BIN)/python -m bench.storage_bench
	$(BIN)/python -m bench.http_floor_bench
	$(BIN)/python -m bench.write_cost_bench
	$(BIN)/python -m bench.scheduler_bench
	$(BIN)/python -m bench.kubelet_bench
	$(BIN)/python -m bench.streaming_bench
	$(BIN)/python -m bench.controllers_bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
