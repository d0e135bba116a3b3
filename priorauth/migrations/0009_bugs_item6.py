"""Issue 12 item 6: an appeal keeps its level's terms (Appeal.level_terms), copied for the appeals
already filed from the level as it stands now (the best record there is of what they were); a
practice has a time zone (its calendar days), the deployment's TIME_ZONE until an admin sets one."""

from django.db import migrations, models

import priorauth.models


def copy_level_terms(apps, schema_editor) -> None:
    Appeal = apps.get_model("priorauth", "Appeal")
    AppealLevel = apps.get_model("policies", "AppealLevel")
    for appeal in Appeal.objects.select_related("request").iterator():
        if appeal.level_terms:
            continue
        level = (
            AppealLevel.objects.filter(policy__payer_id=appeal.request.payer_id, order=appeal.level_order)
            .prefetch_related("citations")
            .first()
        )
        if level is None:
            continue
        # As priorauth.services.appeal_level_terms (a migration cannot import the live code).
        appeal.level_terms = {
            "filing_deadline_days": level.filing_deadline_days,
            "decision_deadline_days": level.decision_deadline_days,
            "expedited_decision_hours": level.expedited_decision_hours,
            "citations": [e.key for e in level.citations.all()],
            "review_status": level.review_status,
            "review_reason": level.review_reason,
        }
        appeal.save(update_fields=["level_terms"])


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0001_initial"),
        ("priorauth", "0008_worklist_speed"),
    ]

    operations = [
        migrations.AddField(
            model_name="appeal",
            name="level_terms",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(copy_level_terms, migrations.RunPython.noop),
        migrations.AddField(
            model_name="historicalpractice",
            name="time_zone",
            field=models.CharField(
                default=priorauth.models.default_time_zone,
                help_text="The practice's IANA time zone (America/Chicago): its calendar days for deadlines and letters.",
                max_length=64,
                validators=[priorauth.models.validate_time_zone],
            ),
        ),
        migrations.AddField(
            model_name="practice",
            name="time_zone",
            field=models.CharField(
                default=priorauth.models.default_time_zone,
                help_text="The practice's IANA time zone (America/Chicago): its calendar days for deadlines and letters.",
                max_length=64,
                validators=[priorauth.models.validate_time_zone],
            ),
        ),
    ]
