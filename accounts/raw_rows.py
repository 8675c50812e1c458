"""Model instances from the rows of a hand-written statement, for the case view's few hot reads.

The case view's reads are fixed statements run on every page. Through the ORM, building the SQL of a statement
with seven joins and two subqueries, and the instances, cost more Python time than PostgreSQL took to run it
(bench/RESULTS.md). Written once as SQL, a statement costs nothing to build, and through ``api.prepared`` it is
also planned once per connection. These helpers keep the result what the ORM would give: the columns a model
has, read back with the same converters (JSON, SQLite's dates and booleans), into ``Model.from_db`` instances.
"""

from collections.abc import Sequence
from functools import cache

from django.db import connection
from django.db.models import Field, Model


def concrete_fields(model: type[Model], *, only: Sequence[str] = ()) -> list[Field]:
    """The model's columns (or those named in ``only``), in the order ``select_list`` and ``instance`` use."""
    fields = model._meta.concrete_fields
    return [f for f in fields if f.attname in only] if only else list(fields)


def select_list(alias: str, fields: Sequence[Field]) -> str:
    """``alias."col", ...``: quoted so that PostgreSQL and SQLite read the same text."""
    return ", ".join(f'{alias}."{f.column}"' for f in fields)


@cache
def _converters(vendor: str, field: Field) -> tuple:
    """The column expression and what the ORM's compiler applies to it when read back: the backend's
    converters, then the field's (``vendor`` is part of the cache key: the converters depend on it)."""
    column = field.get_col(field.model._meta.db_table)
    return column, tuple(connection.ops.get_db_converters(column) + column.get_db_converters(connection))


def instance(model: type[Model], fields: Sequence[Field], values: Sequence) -> Model:
    """A ``model`` instance from one row's ``values`` for ``fields`` (fields not read are deferred, as ``only``)."""
    converted = []
    for field, value in zip(fields, values, strict=True):
        column, converters = _converters(connection.vendor, field)
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)
