# The two commands a newcomer needs: `make demo` and `make test`.
VENV := .venv/bin
export DESK_DEV ?= 1

.PHONY: setup demo test test-sqlite test-postgresql bench load translations

setup:
	bash .ci/setup

demo: setup
	$(VENV)/desk init-db
	DESK_SANDBOX=true $(VENV)/desk seed-demo --if-empty
	DESK_SANDBOX=true $(VENV)/desk run

test: setup
	DESK_TEST_DB=sqlite $(VENV)/python -m pytest -q -m "not perf"
	DESK_TEST_DB=postgresql $(VENV)/python -m pytest -q -m "not perf"

test-sqlite:
	DESK_TEST_DB=sqlite $(VENV)/python -m pytest -q -m "not perf"

test-postgresql:
	DESK_TEST_DB=postgresql $(VENV)/python -m pytest -q -m "not perf"

bench: setup
	$(VENV)/python tests/perf/run.py

load: setup
	$(VENV)/python tests/perf/run.py --only load

translations:
	$(VENV)/pybabel extract -F babel.cfg -k _l -o desk/translations/messages.pot .
	$(VENV)/pybabel update -i desk/translations/messages.pot -d desk/translations --no-fuzzy-matching
	$(VENV)/pybabel compile -d desk/translations
