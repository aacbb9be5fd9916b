# Shabaka: the entry points. `make run` serves the app; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-sqlite test-postgres coverage coverage-report lint e2e translations vendor clean bench bench-parts mutation

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) scripts/i18n.py compile
	@touch $(STAMP)

run: install
	$(PY) scripts/run_dev.py

# `make coverage` (or COVERAGE=1 make test): branch coverage of both runs and of every process
# they start, reported after them and held to the floor in pyproject.toml ([tool.coverage.report]
# fail_under). Measuring costs about 1.5x the time, so `make test` (and CI) runs without it.
COVERAGE ?= 0
export COVERAGE_FILE := $(CURDIR)/.coverage
ifeq ($(COVERAGE),0)
PYTEST := $(PY) -m pytest
else
PYTEST := $(PY) -m coverage run -m pytest
endif

# The SQLite pass takes the next Redis database (…/0 -> …/1), so the two passes can run side by side.
SQLITE_REDIS_URL ?= $(patsubst %/0,%/1,$(TEST_REDIS_URL))

# The whole suite on SQLite; with TEST_DATABASE_URL set, on PostgreSQL (and Redis) too, the two
# passes side by side (each prints its output when it ends), then the coverage of both.
test: install
	$(PY) scripts/i18n.py compile
	@rm -f .coverage .coverage.*
	@if [ -n "$$TEST_DATABASE_URL" ]; then $(MAKE) --no-print-directory -j2 -Otarget test-sqlite test-postgres; \
	else $(MAKE) --no-print-directory test-sqlite && echo "TEST_DATABASE_URL is not set: PostgreSQL run skipped"; fi
	@if [ "$(COVERAGE)" != 0 ]; then $(MAKE) --no-print-directory coverage-report; fi

test-sqlite:
	SHABAKA_TEST_BACKEND=sqlite TEST_REDIS_URL=$(SQLITE_REDIS_URL) $(PYTEST) tests

test-postgres:
	SHABAKA_TEST_BACKEND=postgres $(PYTEST) tests -m "not browser"

coverage:
	$(MAKE) --no-print-directory test COVERAGE=1

# Combine what every process measured, print it, and fail below the floor.
coverage-report:
	$(PY) -m coverage combine --quiet
	$(PY) -m coverage report

e2e: install
	$(PY) scripts/i18n.py compile
	$(PY) -m pytest tests/browser

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/i18n.py check

translations: install
	$(PY) scripts/i18n.py extract
	$(PY) scripts/i18n.py update
	$(PY) scripts/i18n.py compile

# Benchmarks (measurements, not tests). `make bench` prints the reference table (bench/table.py):
# every page and write through HTTP on the reference data set (bench/dataset.py, built or reused),
# the ratios with the cipher, policy and audit switched off, the reminders, chain verification,
# memory and size; it writes the table into docs/benchmarks.md. It needs BENCH_DATABASE_URL
# (PostgreSQL, a database of its own) and BENCH_REDIS_URL (a Redis database it may flush).
# SCALE=small for development (a tenth). Results in bench/results/.
SCALE ?= full
bench: install
	@if [ -z "$$BENCH_DATABASE_URL" ]; then echo "make bench needs BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<a database of its own> (and BENCH_REDIS_URL=redis://127.0.0.1:6379/<n>)"; exit 2; fi
	$(PY) bench/table.py --scale $(SCALE)

# The older, smaller benchmarks: the field cipher, the case list with and without it, the
# referral send and accept, the reminder sweep, audit verification, the audit write's cost and make
# run's stack under eight clients (embedded_load, SQLite). BENCH_DATABASE_URL=postgresql://... runs
# them on PostgreSQL (the audit cost runs only there); BENCH_REDIS_URL=redis://.../13 (flushed) adds
# the reminder delivery by a real worker.
bench-parts: install
	$(PY) bench/crypto_fields.py && $(PY) bench/case_list.py && $(PY) bench/referrals.py && $(PY) bench/reminders.py && $(PY) bench/audit_verify.py && $(PY) bench/audit_cost.py && $(PY) bench/embedded_load.py
	$(PY) bench/disclosure.py
	@if [ -n "$$BENCH_DATABASE_URL" ]; then $(PY) bench/stats_reference.py --reuse; else echo "BENCH_DATABASE_URL is not set: the statistics at the reference size (PostgreSQL) skipped"; fi

# Mutation testing (not in CI; about half an hour on two cores): mutmut on the access policy, the
# cryptography, the encrypted columns, the referral state machine (those functions of services.py
# only) and the audit chain, against their focused tests ([tool.mutmut]); then the score of each
# module, failing under 90 %. See docs/mutation.md.
MUTATION_SCOPE := "referral.access.policy.*" "referral.security.crypto.*" "referral.security.fields.*" \
	"referral.audit.chain.*" $(foreach f,_side _record_transition _check_sharing send_referral _move_clocks _tell \
	_allowed transition,"referral.referrals.services.x_$(f)__mutmut_*")
mutation: install
	$(PY) scripts/i18n.py compile
	$(VENV)/bin/mutmut run --max-children 2 $(MUTATION_SCOPE)
	$(PY) scripts/mutation_report.py $(MUTATION_SCOPE)

# Refresh the front-end files served by the app from the npm registry (needs npm).
vendor:
	bash scripts/vendor_assets.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
