"""Cancellation as a state of its own: when a person cancelled the job, or null."""

from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Coalesce

# What the seed writes for a cancel, and the studio still does, beside cancelled_at.
CANCELLED_MESSAGE = "Cancelled by user"


def mark_cancelled(apps, schema_editor):
    # Jobs cancelled before this column existed: the cancel ended them, at completed_at.
    VideoCreationJob = apps.get_model("jobs", "VideoCreationJob")
    VideoCreationJob.objects.filter(status="failed", error=CANCELLED_MESSAGE).update(
        cancelled_at=Coalesce(F("completed_at"), F("updated_at"))
    )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0012_pipeline_safety")]

    operations = [
        migrations.AddField(
            model_name="videocreationjob",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_cancelled, migrations.RunPython.noop),
    ]
