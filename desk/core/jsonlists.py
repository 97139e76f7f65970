"""A WHERE clause on a JSON list column that means "empty, or holds this value", for SQLite
and PostgreSQL, so that a choice over many rows (an agent's skills, a team's channels) is
made in the database instead of reading every row."""
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import coercions, roles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean


class ListAllows(ColumnElement):
    """True when the JSON list `column` is empty (or NULL, or JSON null) or holds `value`;
    a NULL value is held by no list."""

    type = Boolean()
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("value", InternalTraversal.dp_clauseelement)]

    def __init__(self, column, value):
        self.column = coercions.expect(roles.ExpressionElementRole, column)
        self.value = coercions.expect(roles.ExpressionElementRole, value)


def list_allows(column, value) -> ListAllows:
    return ListAllows(column, value)


def _empty(compiler, element, **kw) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IS NULL OR CAST({column} AS TEXT) IN ('[]', 'null')"


@compiles(ListAllows, "postgresql")
def _postgresql(element, compiler, **kw):
    column = compiler.process(element.column, **kw)
    value = compiler.process(element.value, **kw)
    return f"({_empty(compiler, element, **kw)} OR CAST({column} AS JSONB) @> to_jsonb({value}))"


@compiles(ListAllows)
def _sqlite(element, compiler, **kw):
    column = compiler.process(element.column, **kw)
    value = compiler.process(element.value, **kw)
    return (f"({_empty(compiler, element, **kw)} OR EXISTS "
            f"(SELECT 1 FROM json_each({column}) WHERE json_each.value = {value}))")
