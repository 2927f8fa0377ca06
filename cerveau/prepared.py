"""Reads the ORM compiles once per process, then runs with each call's values.

Django turns a queryset into SQL anew every time it is evaluated. For the
look-ups every phone repeats when it joins (an atelier by its code, its
session, its participant with the atelier, its own « moi aussi » and
impossibles) building and compiling the queryset is most of their cost:
0.3 to 0.9 ms each on a slow host, against about 0.05 ms for SQLite to
answer them (docs/benchmarks.md).

A `Prepared` read is a function that builds a queryset from its arguments.
The first call for a database (and for a given length of each list
argument) builds it with stand-in values, compiles it, and notes where each
stand-in went among the SQL's parameters; later calls run that SQL with
their own values, through the connection's cursor as the ORM does, and turn
rows into what the queryset returns, with the same converters and the same
model instances (related models from `select_related` included). Values
go to the database as they are given, as the column's own type (an int for
a key, a str for a code): the ORM's conversions ran on the stand-ins only.

What it refuses, loudly, the first time it is called (a test calls each
one): a stand-in the ORM transformed (`__icontains`, a function of the
value) or folded into the SQL text, or an argument of a type it cannot
stand in for. `tests/test_prepared.py` runs every read of the project
beside its plain queryset.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import FlatValuesListIterable, ModelIterable, get_related_populators

# Stand-ins: values no real call passes (and in range for a 32-bit integer
# column: Django answers an out-of-range integer look-up without SQL).
_INT_BASE = 2_100_000_000
_TEXT_MARK = "\u2063prepared\u2063"
_INSTANT = datetime.datetime(2001, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)
# A plan is compiled per length of each list argument, up to this length.
LONGEST_LIST = 16


def _stand_in(value: Any, n: int) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str | datetime.datetime):
        raise TypeError(f"a prepared read takes int, str or datetime arguments (or lists of them), not {value!r}")
    if isinstance(value, str):
        return f"{_TEXT_MARK}{n}"
    if isinstance(value, datetime.datetime):
        return _INSTANT + datetime.timedelta(microseconds=n + 1)
    return _INT_BASE + n


@dataclass(frozen=True)
class _Plan:
    sql: str
    # For each SQL parameter: ("arg", position in the flattened arguments)
    # or ("const", the value the queryset itself holds).
    params: tuple[tuple[str, Any], ...]
    # The selected expressions, for the converters.
    fields: tuple[Any, ...]
    # Model rows (None: one flat column): the model, its columns' slice and
    # names, related populators.
    model: type[Model] | None = None
    model_slice: slice | None = None
    init_list: tuple[str, ...] = ()
    populators: tuple[Any, ...] = ()


class Prepared:
    """`build(*args)` returns a queryset of model instances (with
    `select_related` if wanted) or `values_list(one_field, flat=True)`."""

    # Every prepared read of the project, for the test that runs each beside its queryset.
    every: list[Prepared] = []

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self.build = build
        Prepared.every.append(self)
        self.plans: dict[tuple, _Plan] = {}
        self.lock = threading.Lock()

    def __call__(self, *args: Any) -> list[Any]:
        shape = tuple(len(arg) if isinstance(arg, list | tuple) else None for arg in args)
        if any(length is not None and length > LONGEST_LIST for length in shape):
            # A plan per length would keep growing: a long list runs as a queryset.
            return list(self.build(*args))
        flat_args = [value for arg in args for value in (arg if isinstance(arg, list | tuple) else [arg])]
        # One database here; a router would make this the queryset's own.
        alias = "default"
        plan = self.plans.get((alias, shape))
        if plan is None:
            with self.lock:
                plan = self.plans.get((alias, shape)) or self._compile(alias, args)
                self.plans[(alias, shape)] = plan
        return self._run(plan, alias, flat_args)

    def one(self, *args: Any) -> Any | None:
        """The only row, or None when there is none or more than one (as a
        `get()` that catches DoesNotExist and MultipleObjectsReturned)."""
        rows = self(*args)
        return rows[0] if len(rows) == 1 else None

    def _compile(self, alias: str, args: Sequence[Any]) -> _Plan:
        stand_ins: list[Any] = []
        built_args = []
        for arg in args:
            if isinstance(arg, list | tuple):
                values = [_stand_in(value, len(stand_ins) + i) for i, value in enumerate(arg)]
                stand_ins += values
                built_args.append(values)
            else:
                stand_ins.append(_stand_in(arg, len(stand_ins)))
                built_args.append(stand_ins[-1])
        queryset = self.build(*built_args)
        if queryset.db != alias:
            raise ValueError(f"a prepared read runs on {alias!r}, not {queryset.db!r}")
        connection = connections[alias]
        compiler = queryset.query.get_compiler(using=alias)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            # An empty list for `__in`: no rows, and no query, as the ORM.
            return _Plan(sql="", params=(), fields=())
        # What each stand-in looks like among the parameters once the ORM
        # prepared it (a datetime is adapted for the backend).
        prepared = [
            connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime.datetime) else value
            for value in stand_ins
        ]
        mapping: list[tuple[str, Any]] = []
        for param in params:
            matches = [n for n, value in enumerate(prepared) if type(value) is type(param) and value == param]
            mapping.append(("arg", matches[0]) if matches else ("const", param))
        missing = set(range(len(stand_ins))) - {n for kind, n in mapping if kind == "arg"}
        if missing:
            raise ValueError(f"a prepared read's arguments {sorted(missing)} are not plain SQL parameters: {sql}")
        fields = tuple(select[0] for select in compiler.select[: compiler.col_count])
        if queryset._iterable_class is FlatValuesListIterable:
            return _Plan(sql=sql, params=tuple(mapping), fields=fields)
        if (
            queryset._iterable_class is not ModelIterable
            or compiler.annotation_col_map
            or queryset._known_related_objects
        ):
            raise ValueError("a prepared read returns model instances or one flat column")
        klass_info = compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return _Plan(
            sql=sql,
            params=tuple(mapping),
            fields=fields,
            model=klass_info["model"],
            model_slice=slice(start, end),
            init_list=tuple(select[0].target.attname for select in compiler.select[start:end]),
            populators=tuple(get_related_populators(klass_info, compiler.select, alias)),
        )

    def _run(self, plan: _Plan, alias: str, flat_args: list[Any]) -> list[Any]:
        if not plan.sql:
            return []
        connection = connections[alias]
        params = []
        for kind, value in plan.params:
            if kind == "const":
                params.append(value)
                continue
            value = flat_args[value]
            params.append(
                connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime.datetime) else value
            )
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        rows = _convert(rows, plan.fields, connection)
        if plan.model is None:
            return [row[0] for row in rows]
        objects = []
        for row in rows:
            obj = plan.model.from_db(alias, plan.init_list, row[plan.model_slice])
            for populator in plan.populators:
                populator.populate(row, obj)
            objects.append(obj)
        return objects


def _convert(rows: list[tuple], fields: Sequence[Any], connection) -> list[Sequence[Any]]:
    """What the compiler's `results_iter` does to rows: the backend's and the
    fields' converters (SQLite's datetimes and booleans, JSON fields)."""
    converters = []
    for position, expression in enumerate(fields):
        functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if functions:
            converters.append((position, functions, expression))
    if not converters:
        return rows
    converted = []
    for row in rows:
        row = list(row)
        for position, functions, expression in converters:
            value = row[position]
            for function in functions:
                value = function(value, expression, connection)
            row[position] = value
        converted.append(row)
    return converted
