"""Bearer-token authentication for the REST API."""

from datetime import timedelta
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api.models import ApiToken
from api.prepared import prepared_cursor

# Recording every use would turn each read into a write; once a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer mod_<prefix>_<secret>``. The prefix finds the row; the hash must match."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not secret.strip():
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        secret = secret.strip()
        prefix = ApiToken.prefix_of(secret)
        token = _token_with_user(prefix) if prefix else None
        if token is None or not token.matches(secret):
            raise exceptions.AuthenticationFailed("Unknown API token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API token has been revoked.")
        if not token.is_usable:
            raise exceptions.AuthenticationFailed("This API token has expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The user behind this API token is inactive.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            # Conditional, so the workers that see a stale time at once write it once between them.
            stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
            ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
        return (token.user, token)

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return self.keyword


@cache
def _token_query() -> tuple[str, list[str], list[str], list[tuple[int, list, object]]]:
    """``SELECT`` of a token and its user by prefix, written once from the models' fields.

    Returns the SQL, the token's and the user's attribute names, and the value converters the ORM
    would apply per column (JSON decoding; on SQLite, booleans and aware datetimes).
    """
    qn = connection.ops.quote_name
    user_model = get_user_model()
    token_fields, user_fields = ApiToken._meta.concrete_fields, user_model._meta.concrete_fields
    columns = [f"t.{qn(f.column)}" for f in token_fields] + [f"u.{qn(f.column)}" for f in user_fields]
    sql = (
        f"SELECT {', '.join(columns)} FROM {qn(ApiToken._meta.db_table)} t "
        f"JOIN {qn(user_model._meta.db_table)} u ON u.{qn(user_model._meta.pk.column)} = t.{qn('user_id')} "
        f"WHERE t.{qn('prefix')} = %s"
    )
    converters = []
    for index, field in enumerate([*token_fields, *user_fields]):
        column = field.get_col("t" if index < len(token_fields) else "u")
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((index, found, column))
    return sql, [f.attname for f in token_fields], [f.attname for f in user_fields], converters


def _token_with_user(prefix: str) -> ApiToken | None:
    """The token with this prefix and its user, as ``select_related("user")`` loads them.

    Every request reads the token afresh (a revocation applies to the next request), so this runs
    on every API call: one plain query here costs a fraction of the ORM's query building.
    """
    sql, token_names, user_names, converters = _token_query()
    with prepared_cursor() as cursor:
        cursor.execute(sql, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, functions, column in converters:
        for convert in functions:
            values[index] = convert(values[index], column, connection)
    token = ApiToken.from_db(connection.alias, token_names, values[: len(token_names)])
    token.user = get_user_model().from_db(connection.alias, user_names, values[len(token_names) :])
    return token
