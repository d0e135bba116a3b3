"""The worklist and the dashboard at 100,000 requests (issue 13, bench/worklist_bench.py).

RequestStatusCount holds, per practice, treating physician, payer and status, how many requests
there are. Triggers on the request table keep it exact in the same transaction as every insert,
delete and change of those four columns, whoever writes (services, the admin, bulk_create, raw
SQL): the dashboard's counts and the worklist's unfiltered total read a few hundred rows at most
instead of counting every request of the practice on each page. Existing requests are counted here.

PostgreSQL: statement-level triggers with transition tables (one grouped write per statement, so a
bulk insert is one write; an ordinary save that changes none of the four columns writes nothing).
SQLite: row triggers (the same counts; development and the tests).
"""

import django.db.models.deletion
from django.core.exceptions import ImproperlyConfigured
from django.db import migrations, models

COUNTS = "priorauth_requeststatuscount"
REQUESTS = "priorauth_authorizationrequest"
KEY = "practice_id, treating_physician_id, payer_id, status"

POSTGRES_CREATE = [
    f"""
CREATE OR REPLACE FUNCTION priorauth_request_status_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {COUNTS} ({KEY}, n)
        SELECT {KEY}, COUNT(*) FROM new_rows GROUP BY {KEY}
        ON CONFLICT ({KEY}) DO UPDATE SET n = {COUNTS}.n + EXCLUDED.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {COUNTS} ({KEY}, n)
        SELECT {KEY}, -COUNT(*) FROM old_rows GROUP BY {KEY}
        ON CONFLICT ({KEY}) DO UPDATE SET n = {COUNTS}.n + EXCLUDED.n;
    ELSE
        INSERT INTO {COUNTS} ({KEY}, n)
        SELECT {KEY}, SUM(d) FROM (
            SELECT {KEY}, 1 AS d FROM new_rows UNION ALL SELECT {KEY}, -1 AS d FROM old_rows
        ) AS changed GROUP BY {KEY} HAVING SUM(d) <> 0
        ON CONFLICT ({KEY}) DO UPDATE SET n = {COUNTS}.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
""",
    f"""CREATE TRIGGER priorauth_request_count_insert AFTER INSERT ON {REQUESTS}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION priorauth_request_status_count()""",
    f"""CREATE TRIGGER priorauth_request_count_delete AFTER DELETE ON {REQUESTS}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION priorauth_request_status_count()""",
    f"""CREATE TRIGGER priorauth_request_count_update AFTER UPDATE ON {REQUESTS}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION priorauth_request_status_count()""",
]
POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS priorauth_request_count_insert ON {REQUESTS}",
    f"DROP TRIGGER IF EXISTS priorauth_request_count_delete ON {REQUESTS}",
    f"DROP TRIGGER IF EXISTS priorauth_request_count_update ON {REQUESTS}",
    "DROP FUNCTION IF EXISTS priorauth_request_status_count()",
]

_NEW = "NEW.practice_id, NEW.treating_physician_id, NEW.payer_id, NEW.status"
_OLD_MATCH = (
    "practice_id = OLD.practice_id AND treating_physician_id = OLD.treating_physician_id "
    "AND payer_id = OLD.payer_id AND status = OLD.status"
)
_ADD_NEW = f"INSERT INTO {COUNTS} ({KEY}, n) VALUES ({_NEW}, 1) ON CONFLICT ({KEY}) DO UPDATE SET n = n + 1;"
# A delete only lowers an existing count (never inserts a negative one): Django's flush on SQLite
# deletes the tables one by one, the counts possibly first.
_REMOVE_OLD = f"UPDATE {COUNTS} SET n = n - 1 WHERE {_OLD_MATCH};"
SQLITE_CREATE = [
    f"CREATE TRIGGER priorauth_request_count_insert AFTER INSERT ON {REQUESTS} BEGIN {_ADD_NEW} END",
    f"CREATE TRIGGER priorauth_request_count_delete AFTER DELETE ON {REQUESTS} BEGIN {_REMOVE_OLD} END",
    f"""CREATE TRIGGER priorauth_request_count_update
    AFTER UPDATE OF practice_id, treating_physician_id, payer_id, status ON {REQUESTS}
    WHEN OLD.practice_id IS NOT NEW.practice_id OR OLD.treating_physician_id IS NOT NEW.treating_physician_id
        OR OLD.payer_id IS NOT NEW.payer_id OR OLD.status IS NOT NEW.status
    BEGIN {_REMOVE_OLD} {_ADD_NEW} END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS priorauth_request_count_insert",
    "DROP TRIGGER IF EXISTS priorauth_request_count_delete",
    "DROP TRIGGER IF EXISTS priorauth_request_count_update",
]
BACKFILL = f"INSERT INTO {COUNTS} ({KEY}, n) SELECT {KEY}, COUNT(*) FROM {REQUESTS} GROUP BY {KEY}"


def create(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": POSTGRES_CREATE, "sqlite": SQLITE_CREATE}.get(vendor)
    if statements is None:
        # The counts are kept by triggers written for the two databases this project runs on; on
        # any other, the dashboard's and worklist's totals would silently be wrong.
        raise ImproperlyConfigured(f"This project runs on PostgreSQL or SQLite, not {vendor}.")
    for sql in statements:
        schema_editor.execute(sql)
    schema_editor.execute(f"DELETE FROM {COUNTS}")
    schema_editor.execute(BACKFILL)


def drop(apps, schema_editor) -> None:
    for sql in POSTGRES_DROP if schema_editor.connection.vendor == "postgresql" else SQLITE_DROP:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0003_payer_contacts_letters"),
        ("priorauth", "0007_sending_appeal"),
    ]

    operations = [
        migrations.CreateModel(
            name="RequestStatusCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("submitted", "Submitted"),
                            ("sent", "Sent to payer"),
                            ("approved", "Approved"),
                            ("denied", "Denied"),
                            ("pended", "Pended for more information"),
                            ("appeal_in_progress", "Appeal in progress"),
                            ("appeal_approved", "Appeal approved"),
                            ("appeal_denied", "Appeal denied"),
                            ("withdrawn", "Withdrawn"),
                            ("expired", "Expired"),
                        ],
                        max_length=24,
                    ),
                ),
                ("n", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.AddIndex(
            model_name="authorizationrequest",
            index=models.Index(fields=["practice", "status", "submitted_at"], name="pa_request_practice_st_subm"),
        ),
        migrations.AddIndex(
            model_name="authorizationrequest",
            index=models.Index(fields=["practice", "status", "sent_at"], name="pa_request_practice_st_sent"),
        ),
        migrations.AddIndex(
            model_name="authorizationrequest",
            index=models.Index(
                condition=models.Q(("status__in", ("sent", "appeal_in_progress"))),
                fields=["practice", "decision_due_at", "follow_up_on", "id"],
                name="pa_request_awaiting_due",
            ),
        ),
        migrations.AddIndex(
            model_name="authorizationrequest",
            index=models.Index(
                condition=models.Q(("status__in", ("denied", "appeal_denied"))),
                fields=["practice", "appeal_file_by", "id"],
                name="pa_request_appealable_file_by",
            ),
        ),
        migrations.AddField(
            model_name="requeststatuscount",
            name="payer",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="policies.payer",
            ),
        ),
        migrations.AddField(
            model_name="requeststatuscount",
            name="practice",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="priorauth.practice",
            ),
        ),
        migrations.AddField(
            model_name="requeststatuscount",
            name="treating_physician",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="priorauth.provider",
            ),
        ),
        migrations.AddConstraint(
            model_name="requeststatuscount",
            constraint=models.UniqueConstraint(
                fields=("practice", "treating_physician", "payer", "status"), name="request_status_count_key"
            ),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]
