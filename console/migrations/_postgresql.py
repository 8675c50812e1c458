"""The step the console's PostgreSQL-only migrations share. Django's migration loader skips modules whose name
starts with an underscore, so this is not a migration."""


def on_postgresql(statements: list[str]):
    """A RunPython function executing ``statements`` in order on PostgreSQL, and nothing on SQLite (the embedded
    default, whose search scans instead)."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run
