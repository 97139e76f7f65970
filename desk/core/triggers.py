"""Database triggers the desk keeps (report change marks, board counts): which are present."""


def present(connection, names) -> set[str]:
    """The triggers of `names` that exist in the connected database (a SQLite migration that
    rebuilds a table drops its triggers; their owners put them back)."""
    if connection.dialect.name == "postgresql":
        sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return set(connection.exec_driver_sql(sql).scalars()) & set(names)
