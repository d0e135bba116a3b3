"""Trigram GIN indexes for the worklist's search (priorauth.worklist), on PostgreSQL only.

Django's ``icontains`` is ``UPPER(col) LIKE UPPER('%q%')`` on PostgreSQL, so the indexes are on
``UPPER(col)``: pg_trgm answers a ``LIKE '%…%'`` from them instead of scanning every row. SQLite
(development, tests) has no such index and runs the same query unindexed.
"""

from django.db import migrations

INDEXES = [
    ("pa_patient_last_trgm", "priorauth_patient", "last_name"),
    ("pa_patient_first_trgm", "priorauth_patient", "first_name"),
    ("pa_patient_member_trgm", "priorauth_patient", "member_id"),
    ("pa_request_reference_trgm", "priorauth_authorizationrequest", "reference"),
    ("pa_decision_payer_ref_trgm", "priorauth_payerdecision", "payer_reference"),
]


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (UPPER("{column}") gin_trgm_ops)'
        )
    # The date-of-birth search and the patient-id semijoin.
    schema_editor.execute("CREATE INDEX IF NOT EXISTS pa_patient_birth ON priorauth_patient (practice_id, birth_date)")


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute("DROP INDEX IF EXISTS pa_patient_birth")


class Migration(migrations.Migration):
    dependencies = [("priorauth", "0003_billing_office")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
