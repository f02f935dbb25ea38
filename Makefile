# Everything a newcomer or CI needs: `make run`, `make test`, `make lint`, `make bench`,
# `make soak`.
# Each target creates .venv and installs what it needs on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROJECTS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml cli/pyproject.toml)

.PHONY: install run test lint format bench soak clean rotate-keys system-packages

$(STAMP): constraints.txt requirements-dev.txt $(PROJECTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -r requirements-dev.txt
	@touch $@

install: $(STAMP)

## Start every service on this machine against local PostgreSQL and RabbitMQ.
run: $(STAMP)
	@$(BIN)/python tools/devrun.py

## The whole test suite (uses local PostgreSQL/RabbitMQ when they answer, else testcontainers),
## in PYTEST_WORKERS processes (pytest-xdist; 0 runs it in this one).
PYTEST_WORKERS ?= 2
test: $(STAMP) system-packages
	@$(BIN)/python tools/testenv.py $(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

## Debian's chromium (browser tests, driven by Playwright), nginx (forward-auth tests) and
## haproxy (the balancer of docker-compose.scale.yml, run in front of stand-in instances).
system-packages:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	[ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing from Debian"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing \
		|| { $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; }; \
	fi

## Benchmarks (bench/): every figure a ratio against a baseline measured in the same run;
## prints a table and writes JSON to bench/results/ (see bench/results/README.md).
bench: $(STAMP)
	@command -v wrk >/dev/null || { \
		echo "installing wrk from Debian"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q wrk \
		|| { $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q wrk; }; \
	}
	@$(BIN)/python -m bench.run $(BENCH_ARGS)

## The chaos soak (soak/): every service several times over, faults in turn, steady
## revocations; prints the figures, writes them to test-artifacts/soak/, and fails unless
## nothing was honoured past the bound, came back or was lost. Longer: SOAK_ARGS="--rounds 6".
soak: $(STAMP)
	@$(BIN)/python -m soak $(SOAK_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts

## Retire the current signing key and sign with a new one (the old one stays published).
rotate-keys: $(STAMP)
	$(BIN)/python -m latchkey.auth rotate-keys
