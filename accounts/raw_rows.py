"""Model instances from the rows of a hand-written statement, for the case view's few hot reads.

The case view's reads are fixed statements run on every page. Through the ORM, building the SQL of a statement
with seven joins and two subqueries, and the instances, cost more Python time than PostgreSQL took to run it
(bench/RESULTS.md). Written once as SQL, a statement costs nothing to build, and through ``api.prepared`` it is
also planned once per connection. A ``Reader`` keeps the result what the ORM would give: the columns a model
has, read back with the same converters (JSON, SQLite's dates and booleans), into ``Model.from_db`` instances.
"""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


class Reader:
    """Reads ``model`` instances from the columns of ``fields`` (all its columns by default; those not read are
    deferred, as with ``only()``). Build one per statement and keep it: it works out the converters once."""

    def __init__(self, model: type[Model], *, only: Sequence[str] = ()) -> None:
        fields = model._meta.concrete_fields
        self.model = model
        self.fields = [f for f in fields if f.attname in only] if only else list(fields)
        self.attnames = [f.attname for f in self.fields]
        self._converters: dict[str, list] = {}  # per database vendor: (position, column, converters)

    def __len__(self) -> int:
        return len(self.fields)

    def select_list(self, alias: str) -> str:
        """``alias."col", ...``: quoted so that PostgreSQL and SQLite read the same text."""
        return ", ".join(f'{alias}."{f.column}"' for f in self.fields)

    def instance(self, values: Sequence) -> Model:
        """An instance from one row's values of ``select_list``'s columns, converted as the ORM's compiler does
        (the backend's converters, then the field's ``from_db_value``)."""
        converters = self._converters.get(connection.vendor)
        if converters is None:
            converters = self._converters[connection.vendor] = []
            for position, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if found:
                    converters.append((position, column, found))
        values = list(values)
        for position, column, found in converters:
            for converter in found:
                values[position] = converter(values[position], column, connection)
        return self.model.from_db(connection.alias, self.attnames, values)
