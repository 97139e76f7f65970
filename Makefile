# The two commands a newcomer needs: `make demo` and `make test`.
VENV := .venv/bin
export DESK_DEV ?= 1

.PHONY: setup demo test test-sqlite test-postgresql test-base-time bench load translations

setup:
	bash .ci/setup

# The demo's Meta app secret signs `desk demo-message` test messages (never a real secret).
demo: setup
	$(VENV)/desk init-db
	DESK_SANDBOX=true $(VENV)/desk seed-demo --if-empty
	DESK_SANDBOX=true DESK_META_APP_SECRET=$${DESK_META_APP_SECRET:-demo-meta-app-secret} $(VENV)/desk run

# SQLite, PostgreSQL, and SQLite at a base time (.ci/test): every run, both summaries.
test: setup
	bash .ci/test

test-sqlite:
	bash .ci/test sqlite

test-postgresql:
	bash .ci/test postgresql

test-base-time:
	bash .ci/test base-time

bench: setup
	$(VENV)/python tests/perf/run.py

load: setup
	$(VENV)/python tests/perf/run.py --only load

translations:
	$(VENV)/pybabel extract -F babel.cfg -k _l -o desk/translations/messages.pot .
	$(VENV)/pybabel update -i desk/translations/messages.pot -d desk/translations --no-fuzzy-matching
	$(VENV)/pybabel compile -d desk/translations
