"""Querysets compiled once and run many times: the pages a clerk opens all day.

Django builds and compiles a queryset's SQL on every evaluation. For the worklist, the dashboard
and the signed-in user that cost more CPU than the database took to answer (bench/worklist_bench.py,
issue 13). A PreparedQuery keeps the querysets in code (the ORM says what is read, with the models'
own names, lookups and converters) and compiles each shape once per process: it builds the
queryset with placeholder values, finds them among the compiled parameters, and later runs the same
SQL with the real values. On PostgreSQL the statement is also prepared on the connection, so the
database plans it once per connection rather than on every page.

Only plain values are slotted: ids and codes compared for equality, and words inside Django's
pattern lookups (contains, icontains, startswith...), which embed the value escaped for LIKE. A
value the compiled parameters do not hold (a slot lost in compilation, or turned into a literal)
fails when the shape is first compiled, never silently.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import Model, QuerySet

# Placeholders: values no real row or input has. Integers stay inside a 32-bit column's range
# (Django answers an out-of-range integer lookup with an empty result, without a parameter).
_INT_BASE = -2_000_000_000
_TEXT_MARK = "zqxprepslot"
_MOMENT_BASE = dt.datetime(1901, 1, 1, tzinfo=dt.UTC)
# Shapes kept per query (each worklist filter combination and page offset is a shape).
_MAX_SHAPES = 256


class Slot:
    """A named value of a prepared query: int (ids), str (codes and search words) or datetime."""

    def __init__(self, name: str, kind: type) -> None:
        if kind not in (int, str, dt.datetime):
            raise ImproperlyConfigured(f"slot {name!r}: only int, str and datetime values can be slotted")
        self.name, self.kind = name, kind


class _Compiled:
    def __init__(
        self,
        sql: str,
        params: list[Any],
        positions: list[tuple[int, str, bool]],
        converters: list[tuple[int, list[Any], Any]],
        marks: dict[str, Any],
    ) -> None:
        self.sql, self.params, self.positions, self.converters, self.marks = sql, params, positions, converters, marks


class PreparedQuery:
    """`build(**placeholders)` returns the values_list queryset for one shape; `rows(key, **values)`
    runs it with the values. `key` names the shape: everything the SQL text depends on other than
    the slotted values (which filters are given, the order, the page's offset)."""

    def __init__(self, name: str, build: Callable[..., QuerySet], *slots: Slot, plan_once: bool = True) -> None:
        # plan_once=False: compiled once, but planned by the database with each run's values (a
        # search, whose best plan depends on how many rows its words match).
        self.name, self.build, self.slots, self.plan_once = name, build, {s.name: s for s in slots}, plan_once
        self._shapes: OrderedDict[tuple[str, Hashable], _Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def _placeholders(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, slot in enumerate(self.slots.values()):
            if slot.kind is int:
                out[slot.name] = _INT_BASE - i
            elif slot.kind is str:
                out[slot.name] = f"{_TEXT_MARK}{i}x"
            else:
                out[slot.name] = _MOMENT_BASE + dt.timedelta(seconds=i)
        return out

    def _compile(self, alias: str, key: Hashable, shape_args: dict[str, Any]) -> _Compiled:
        ops = connections[alias].ops
        placeholders = self._placeholders()
        # As the compiled parameters hold them (a moment is adapted for the database).
        marks = {
            n: ops.adapt_datetimefield_value(v) if isinstance(v, dt.datetime) else v for n, v in placeholders.items()
        }
        qs = self.build(**placeholders, **shape_args)
        compiler = qs.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        positions: list[tuple[int, str, bool]] = []
        for index, param in enumerate(params):
            for name, mark in marks.items():
                if type(param) is type(mark) and param == mark:
                    positions.append((index, name, False))
                elif isinstance(param, str) and str(mark) in param:
                    if not isinstance(mark, str):
                        raise ImproperlyConfigured(f"{self.name} {key!r}: slot {name!r} was turned into text")
                    positions.append((index, name, True))  # inside a LIKE pattern
        for name, mark in marks.items():
            if str(mark) in sql:
                raise ImproperlyConfigured(f"{self.name} {key!r}: slot {name!r} became part of the SQL text")
        # A slot the shape does not use (a filter not given) is simply not among the parameters.
        # The columns' converters (the backend's and the fields' from_db_value), as Django's own
        # evaluation applies them; kept with the shape and applied with the running connection.
        selected = [s[0] for s in compiler.select[0 : compiler.col_count]]
        converters = [(pos, convs, expr) for pos, (convs, expr) in compiler.get_converters(selected).items()]
        return _Compiled(sql, list(params), positions, converters, marks)

    def compiled(self, key: Hashable, alias: str = "default", **shape_args: Any) -> _Compiled:
        shape_key = (alias, key)
        with self._lock:
            found = self._shapes.get(shape_key)
            if found is not None:
                self._shapes.move_to_end(shape_key)
                return found
        compiled = self._compile(alias, key, shape_args)
        with self._lock:
            self._shapes[shape_key] = compiled
            while len(self._shapes) > _MAX_SHAPES:
                self._shapes.popitem(last=False)
        return compiled

    def rows(
        self, key: Hashable, *, shape: dict[str, Any] | None = None, plan_once: bool | None = None, **values: Any
    ) -> list[tuple[Any, ...]]:
        """The rows (tuples, converted as Django converts them) of shape `key` with `values`.
        `shape` holds build arguments that change the SQL text (they must be part of `key`)."""
        alias = "default"
        compiled = self.compiled(key, alias, **(shape or {}))
        connection = connections[alias]
        ops = connection.ops
        params = list(compiled.params)
        for index, name, in_pattern in compiled.positions:
            value = values[name]
            if isinstance(value, dt.datetime):
                value = ops.adapt_datetimefield_value(value)
            if in_pattern:
                params[index] = params[index].replace(compiled.marks[name], ops.prep_for_like_query(value))
            else:
                params[index] = value
        raw = execute(compiled.sql, params, alias=alias, plan_once=self.plan_once if plan_once is None else plan_once)
        if not compiled.converters:
            return raw
        out = []
        for row in raw:
            row = list(row)
            for pos, convs, expression in compiled.converters:
                value = row[pos]
                for convert in convs:
                    value = convert(value, expression, connection)
                row[pos] = value
            out.append(tuple(row))
        return out


class PreparedInsert:
    """One row's INSERT, its text made once from the model's fields: Model.save() builds and
    compiles it on every call, which for the audit entry every page writes cost more CPU than the
    write. The values are prepared by the fields themselves (get_db_prep_save, pre_save), as save()
    prepares them; the new row's primary key is set on the instance. No model signals are sent:
    only for models that have no receivers (the audit trail)."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]

    def insert(self, obj: Model, alias: str = "default") -> Model:
        connection = connections[alias]
        meta, q = self.model._meta, connection.ops.quote_name
        sql = _insert_sql(meta.db_table, tuple(q(f.column) for f in self.fields), q(meta.pk.column))
        params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in self.fields]
        rows = execute(sql, params, alias=alias)
        obj.pk = rows[0][0]
        obj._state.adding, obj._state.db = False, alias
        return obj


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], pk: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) RETURNING {pk}"


# A list of ids as a fixed number of slots (IN (%s, %s, ...)): one shape per bucket, the list padded
# by repeating its first id (the same rows either way).
ID_BUCKETS = (8, 32, 128)


def id_slots(prefix: str) -> list[Slot]:
    return [Slot(f"{prefix}{i}", int) for i in range(ID_BUCKETS[-1])]


def id_values(ids: list[int], prefix: str) -> tuple[int, dict[str, int]] | None:
    """(bucket size, {"<prefix>0": ..., ...}) for `ids`, or None when they are more than the largest
    bucket (the caller reads them the ordinary way). No ids: (0, {})."""
    if len(ids) > ID_BUCKETS[-1]:
        return None
    if not ids:
        return 0, {}
    size = next(b for b in ID_BUCKETS if b >= len(ids))
    return size, {f"{prefix}{i}": ids[i] if i < len(ids) else ids[0] for i in range(size)}


def ids_of(values: dict[str, Any], size: int, prefix: str) -> list[Any]:
    """The placeholders a build function puts in its IN list, for a shape of `size` ids."""
    return [values[f"{prefix}{i}"] for i in range(size)]


_GENERIC_PLANS: weakref.WeakSet = weakref.WeakSet()


def may_prepare(alias: str = "default") -> bool:
    """False where the deployment says no prepared statements (OPTIONS "prepare_threshold": None,
    as behind a transaction-pooling PgBouncer)."""
    options = connections[alias].settings_dict.get("OPTIONS") or {}
    return not ("prepare_threshold" in options and options["prepare_threshold"] is None)


def execute(sql: str, params: list[Any], *, alias: str = "default", plan_once: bool = True) -> list[tuple[Any, ...]]:
    """Run a read whose text is the same on every page (only the values change). On PostgreSQL as a
    statement prepared on the connection: planned once per connection, where planning the
    dashboard's twenty branches cost more than running them (psycopg's own cache of prepared
    statements; Django's cursors bind on the client and never prepare, so these reads get a
    server-binding cursor of the same connection, inside the same transaction). Elsewhere through
    Django's own cursor, as on PostgreSQL where `plan_once` is False."""
    connection = connections[alias]
    if not plan_once or connection.vendor != "postgresql" or not may_prepare(alias):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    if not connection.queries_logged:
        return _execute_prepared(connection, sql, params)
    # Counted and logged like a query of Django's own cursors (assertNumQueries, the benchmark's
    # query counts): a prepared read is a round trip like any other.
    started = time.monotonic()
    try:
        return _execute_prepared(connection, sql, params)
    finally:
        connection.queries_log.append(
            {"sql": f"{sql} -- prepared, params {params!r}", "time": f"{time.monotonic() - started:.3f}"}
        )


_PLACEHOLDER = re.compile(r"%[s%]")


@functools.lru_cache(maxsize=1024)
def _native(sql: str) -> str:
    """Django's "%s" placeholders as PostgreSQL's own "$1", "$2"... ("%%" a literal "%"): the text a
    raw cursor sends as it is. psycopg's ordinary cursors parse the text on every run, and cache
    that only for statements under 4 kB, which a page of ids or a dashboard's branches exceed."""
    numbers = iter(range(1, sql.count("%s") + 1))
    return _PLACEHOLDER.sub(lambda m: "%" if m.group(0) == "%%" else f"${next(numbers)}", sql)


def _execute_prepared(connection: Any, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's statement preparation off (its own cursors bind on the client and
        # cannot prepare). Explicit preparation only: no threshold is ever reached.
        raw.prepare_threshold = sys.maxsize
    # Django's error wrapping, as its own cursors have it: a dropped connection is Django's
    # OperationalError (the 503 of config.exceptions) and the connection is closed and reopened.
    with connection.wrap_database_errors, psycopg.RawCursor(raw) as cursor:
        if raw not in _GENERIC_PLANS:
            # Planned once, for any practice and moment: each of these reads is an index scan
            # whatever the values (PostgreSQL would otherwise re-plan every run, as the values vary).
            # This session setting concerns prepared statements only, which only these reads use.
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            _GENERIC_PLANS.add(raw)
        cursor.execute(_native(sql), params, prepare=True)
        return cursor.fetchall()
