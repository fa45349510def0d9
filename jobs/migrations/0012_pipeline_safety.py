"""Track whether a finished job's directory matches its row, for the recovery sweep."""

from django.db import migrations, models
from django.db.models import F, Q


def settle_existing(apps, schema_editor):
    # Jobs finished before this column existed count as settled: the sweep then has no
    # burst of every old job to go through, only what finishes from now on.
    VideoCreationJob = apps.get_model("jobs", "VideoCreationJob")
    VideoCreationJob.objects.filter(status__in=["completed", "failed"]).update(
        files_settled_at=F("updated_at")
    )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0010_poll_ticks")]

    operations = [
        migrations.AddField(
            model_name="videocreationjob",
            name="files_settled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="videocreationjob",
            index=models.Index(
                condition=Q(files_settled_at__isnull=True),
                fields=["status"],
                name="jobs_files_unsettled_idx",
            ),
        ),
        migrations.RunPython(settle_existing, migrations.RunPython.noop),
    ]
