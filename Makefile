# Developer entry points. `make` (or `make help`) lists them.
# Every target works from a fresh clone: the venv and jars are created on demand
# by scripts/bootstrap.sh, which does nothing when they are already up to date.

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
BIN := $(ROOT)/.venv/bin
# Extra pytest arguments for `make test`, e.g. make test ARGS="-k delta -x"
ARGS ?=
# A job's log for `make report`, e.g. make report RUN_LOG=work/job.log
RUN_LOG ?=

.DEFAULT_GOAL := help
.PHONY: help setup test test-fast lint format demo bench bench-engines bench-load bench-backlog bench-e2e report stack clean ci docs

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z0-9_-]*:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Create/update .venv (with dev tools) and fetch the jars into .jars/
	@bash $(ROOT)/scripts/bootstrap.sh --dev

test: ## Run the test suite (scripts/test.sh; extra pytest args via ARGS="...")
	bash $(ROOT)/scripts/test.sh $(ARGS)

test-fast: ## The tests that need no server (unit, sink, contract, integration), on two workers
	bash $(ROOT)/scripts/test.sh -m "not e2e and not stack and not crash and not aws" \
		-n $${STREAM_CDC_TEST_WORKERS:-2} $(ARGS)

lint: setup ## ruff check, ruff format --check, mypy and cfn-lint
	cd $(ROOT) && $(BIN)/ruff check .
	cd $(ROOT) && $(BIN)/ruff format --check .
	cd $(ROOT) && $(BIN)/mypy .
	cd $(ROOT) && $(BIN)/cfn-lint deploy/cloudformation/*.yaml

format: setup ## ruff format, then ruff check --fix
	cd $(ROOT) && $(BIN)/ruff format .
	cd $(ROOT) && $(BIN)/ruff check --fix .

demo: ## Run the job locally: ./spark-submit.sh jobs/stream_cdc.py
	$(ROOT)/spark-submit.sh $(ROOT)/jobs/stream_cdc.py

bench: setup ## Benchmarks without servers: lake scaling, small batches, staged merge vs row-by-row baseline
	cd $(ROOT) && bash scripts/env.sh $(BIN)/python -m bench.lake_scaling
	cd $(ROOT) && bash scripts/env.sh $(BIN)/python -m bench.small_batches
	cd $(ROOT) && bash scripts/env.sh $(BIN)/python -m bench.merge_vs_baseline

bench-engines: setup ## Lake, Delta, Iceberg, warehouse, a naive and a guarded MERGE side by side: throughput, jobs, 1M->5M growth
	cd $(ROOT) && bash scripts/env.sh $(BIN)/python -m bench.engines

bench-load: setup ## A full load into new tables per file engine against a plain dedupe + Parquet write
	cd $(ROOT) && bash scripts/env.sh $(BIN)/python -m bench.full_load

bench-backlog: setup ## A 2M-change backlog read in batches of three sizes against a plain rewrite (~12 min)
	cd $(ROOT) && bash scripts/env.sh $(BIN)/python -m bench.backlog

bench-e2e: setup ## Commit -> visible latency through the local stack, beside the JDBC sink floor (starts it; ~15 min)
	cd $(ROOT) && bash scripts/env.sh $(BIN)/python -m bench.e2e_latency --find-max 2000

report: setup ## PNG charts of bench/results/ and a job's log (RUN_LOG=FILE) into docs/charts/
	cd $(ROOT) && $(BIN)/python -m bench.report $(if $(RUN_LOG),--run-log $(abspath $(RUN_LOG)))

stack: ## Start the local stack (MariaDB, PostgreSQL, Kafka, Debezium): local/stack up
	$(ROOT)/local/stack up

docs: setup ## Regenerate docs/config.md from the config models
	cd $(ROOT) && $(BIN)/python -m config.reference > docs/config.md

clean: ## Remove work/ (checkpoints, lake, zip, results of local runs)
	rm -rf $(ROOT)/work

ci: ## What CI checks: lint, then test
	$(MAKE) -f $(ROOT)/Makefile lint
	$(MAKE) -f $(ROOT)/Makefile test
