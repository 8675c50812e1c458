"""Statements sent together (api.prepared.fetch_together): each one's rows in order; an error is Django's."""

import pytest
from django.db import DatabaseError, connection, transaction

from api.prepared import fetch_together

pytestmark = pytest.mark.django_db


def test_each_statement_gets_its_own_rows_in_order():
    rows = fetch_together([("SELECT 1, 'one'", {}), ("SELECT %(n)s + 1", {"n": 1}), ("SELECT 3 WHERE 1 = 0", {})])

    assert rows == [[(1, "one")], [(2,)], []]
    assert fetch_together([("SELECT %(n)s", {"n": 7})]) == [[(7,)]]


def test_a_failing_statement_raises_a_database_error_and_the_connection_goes_on():
    with pytest.raises(DatabaseError), transaction.atomic():
        fetch_together([("SELECT 1", {}), ("SELECT * FROM no_such_table_at_all", {}), ("SELECT 2", {})])

    assert fetch_together([("SELECT 1", {}), ("SELECT 2", {})]) == [[(1,)], [(2,)]]
    with connection.cursor() as cursor:  # and Django's own cursors too
        cursor.execute("SELECT 3")
        assert cursor.fetchone() == (3,)
