"""The search objects the models cannot declare: SQLite FTS5 tables and their triggers, the
PostgreSQL text search configuration the model indexes name, and the list's planner statistics.

One definition for both ways a schema is built: migration c3e2b8d4e502 calls `install`, and
`db.create_all()` reaches it through the metadata events below. desk/migrations/env.py leaves
the FTS5 tables out of autogenerate (`include_name`) and calls `repair` after migrating.
"""
from sqlalchemy import event

from desk.core.extensions import db

CONFIG = "desk_search"  # PostgreSQL: 'simple' with unaccent in front; the model indexes name it
TOKENIZER = "unicode61 remove_diacritics 2"  # SQLite FTS5: case and accents folded away

_POSTGRESQL_BEFORE_TABLES = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    # No IF NOT EXISTS for text search configurations: skip it when it is there already.
    f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = '{CONFIG}') THEN
            CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = simple);
            ALTER TEXT SEARCH CONFIGURATION {CONFIG}
                ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
        END IF;
    END $$""",
]
_POSTGRESQL_AFTER_TABLES = [
    # Open tickets are the ones whose clock runs: without this the planner multiplies the two
    # shares, expects a handful of rows and sorts them all instead of walking the list index.
    "CREATE STATISTICS IF NOT EXISTS st_ticket_status_sla_state (dependencies, mcv) "
    "ON status, sla_state FROM ticket",
]
_SQLITE_TABLES = {"message_search": ("message", "text"),
                  "customer_search": ("customer", "display_name")}


def _sqlite_objects(index: str, source: str, column: str) -> list[tuple[str, str]]:
    """(name, DDL) of one FTS5 table over `source`.`column` and the triggers that feed it."""
    added = f"INSERT INTO {index}(rowid, {column}) VALUES (new.id, new.{column});"
    removed = (f"INSERT INTO {index}({index}, rowid, {column}) "
               f"VALUES ('delete', old.id, old.{column});")
    return [
        (index, f"CREATE VIRTUAL TABLE {index} USING fts5({column}, content='{source}', "
                f"content_rowid='id', tokenize='{TOKENIZER}')"),
        (f"{index}_insert",
         f"CREATE TRIGGER {index}_insert AFTER INSERT ON {source} BEGIN {added} END"),
        (f"{index}_delete",
         f"CREATE TRIGGER {index}_delete AFTER DELETE ON {source} BEGIN {removed} END"),
        (f"{index}_update", f"CREATE TRIGGER {index}_update AFTER UPDATE OF {column} ON {source} "
                            f"WHEN old.{column} IS NOT new.{column} BEGIN {removed} {added} END"),
    ]


def install(connection, stage: str = "all") -> None:
    """Create the objects the models cannot declare, if missing (stage: before, after, all)."""
    if connection.dialect.name == "postgresql":
        statements = ((_POSTGRESQL_BEFORE_TABLES if stage in ("before", "all") else [])
                      + (_POSTGRESQL_AFTER_TABLES if stage in ("after", "all") else []))
        for sql in statements:
            connection.exec_driver_sql(sql)
    elif connection.dialect.name == "sqlite" and stage in ("after", "all"):
        _install_sqlite(connection, create=True)


def repair(connection) -> None:
    """Put back SQLite triggers a migration dropped (batch_alter_table copies a table and drops
    the old one, triggers and all) and re-index; a no-op where search was never installed."""
    if connection.dialect.name == "sqlite":
        _install_sqlite(connection, create=False)


def _install_sqlite(connection, create: bool) -> None:
    have = set(connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')").scalars())
    for index, (source, column) in _SQLITE_TABLES.items():
        if index not in have and not create:
            continue
        missing = [sql for name, sql in _sqlite_objects(index, source, column) if name not in have]
        for sql in missing:
            connection.exec_driver_sql(sql)
        if missing:  # rows written while the index or a trigger was missing
            connection.exec_driver_sql(f"INSERT INTO {index}({index}) VALUES ('rebuild')")


def uninstall(connection) -> None:
    """Drop what `install` made (the unaccent extension stays: others may use it)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP STATISTICS IF EXISTS st_ticket_status_sla_state")
        connection.exec_driver_sql(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}")
    elif connection.dialect.name == "sqlite":
        for index, (source, column) in _SQLITE_TABLES.items():
            for name, _ddl in reversed(_sqlite_objects(index, source, column)):
                kind = "TABLE" if name == index else "TRIGGER"  # triggers first: they name it
                connection.exec_driver_sql(f"DROP {kind} IF EXISTS {name}")


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic's include_name hook: leave the FTS5 tables and their shadow tables out of
    autogenerate comparisons (they are not in the models; `install` owns them)."""
    return not (type_ == "table" and name is not None and any(
        name == index or name.startswith(index + "_") for index in _SQLITE_TABLES))


@event.listens_for(db.metadata, "before_create")
def _before_create(metadata, connection, **kw):
    install(connection, "before")


@event.listens_for(db.metadata, "after_create")
def _after_create(metadata, connection, **kw):
    install(connection, "after")


@event.listens_for(db.metadata, "before_drop")
def _before_drop(metadata, connection, **kw):
    # SQLite keeps a virtual table whose content table was dropped: drop it, or a later
    # create_all would find it full of rows that no longer exist.
    if connection.dialect.name == "sqlite":
        uninstall(connection)
