"""SQL building blocks that work on SQLite and PostgreSQL: durations, percentiles, buckets."""
import math

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from desk.core.extensions import db


def dialect() -> str:
    return db.session.get_bind().dialect.name


def seconds_between(later, earlier):
    """Seconds from `earlier` to `later`, as an SQL expression."""
    if dialect() == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def micros_between(later, earlier):
    """Whole microseconds from `earlier` to `later`, exactly (an SQL bigint): sums of these
    are exact, so a mean from the roll-up equals the live one to the last digit."""
    if dialect() == "postgresql":
        # extract() gives numeric since PostgreSQL 14: no float rounding on the way.
        return cast((func.extract("epoch", later) - func.extract("epoch", earlier)) * 1_000_000,
                    BigInteger)
    # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff": whole seconds plus the six fraction digits.
    def _micros(moment):
        return (cast(func.strftime("%s", moment), Integer) * 1_000_000
                + cast(func.substr(moment, 21, 6), Integer))
    return _micros(later) - _micros(earlier)


def floor_div(value, divisor: int):
    """value // divisor rounded down for negative values too (SQL integer division truncates)."""
    return case((value >= 0, value // divisor), else_=-((divisor - 1 - value) // divisor))


def utc_day(column):
    """The UTC calendar day of a timestamp, as an SQL date."""
    if dialect() == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column, type_=Date)


def within_days(moment, start, days: int):
    """SQL: start < moment <= start + days."""
    if dialect() == "postgresql":
        return (moment > start) & (moment <= start + literal_column(f"interval '{int(days)} days'"))
    # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" text: comparing text keeps the index usable.
    until = func.strftime("%Y-%m-%d %H:%M:%f000", start, f"+{int(days)} days")
    return (moment > start) & (moment <= until)


def window_closed(start, now, days: int):
    """SQL: start + days <= now (the observation window is over)."""
    if dialect() == "postgresql":
        return start + literal_column(f"interval '{int(days)} days'") <= now
    return func.julianday(start) + days <= func.julianday(now.replace(tzinfo=None))


def percentiles(value, conditions, ps=(0.5, 0.9), group=None, joins=()) -> dict:
    """{group key: {p: value}} of `value` over rows matching `conditions` (None group key
    when ungrouped). PostgreSQL: percentile_cont in SQL; SQLite: ranks by window functions,
    fetching at most two rows per percentile and group (never all the rows)."""
    group_col = (group if group is not None else literal(1)).label("g")
    if dialect() == "postgresql":
        columns = [func.percentile_cont(p).within_group(value.asc()).label(f"p{i}")
                   for i, p in enumerate(ps)]
        stmt = select(group_col, *columns)
        for target, on in joins:
            stmt = stmt.join(target, on)
        stmt = stmt.where(*conditions, value.is_not(None)).group_by(group_col)
        return {(row.g if group is not None else None):
                {p: _num(getattr(row, f"p{i}")) for i, p in enumerate(ps)}
                for row in db.session.execute(stmt)}
    inner = select(group_col, value.label("v"),
                   func.row_number().over(partition_by=group_col, order_by=value).label("rn"),
                   func.count().over(partition_by=group_col).label("n"))
    for target, on in joins:
        inner = inner.join(target, on)
    ranked = inner.where(*conditions, value.is_not(None)).subquery()
    wanted = []
    for p in ps:
        low = cast(p * (ranked.c.n - 1), Integer) + 1
        wanted += [ranked.c.rn == low, ranked.c.rn == low + 1]
    rows = db.session.execute(select(ranked.c.g, ranked.c.v, ranked.c.rn, ranked.c.n)
                              .where(or_(*wanted))).all()
    found: dict = {}
    for row in rows:
        found.setdefault(row.g, {})[row.rn] = (row.v, row.n)
    result = {}
    for key, ranks in found.items():
        n = next(iter(ranks.values()))[1]
        values = {}
        for p in ps:
            pos = p * (n - 1)
            low = math.floor(pos)
            v_low = ranks[low + 1][0]
            v_high = ranks.get(low + 2, (v_low,))[0]
            values[p] = _num(v_low + (v_high - v_low) * (pos - low))
        result[key if group is not None else None] = values
    return result


def _num(value):
    return None if value is None else float(value)
