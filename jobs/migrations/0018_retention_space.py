"""Each job's stored bytes, for the usage page's space figure (measured by the sweep)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0017_cluster_heartbeats")]

    operations = [
        migrations.AddField(
            model_name="videocreationjob",
            name="stored_bytes",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        # Jobs finished before the column stay empty until the sweep measures them, a
        # few hundred a minute (services.jobs_measure_files): no burst at migrate time.
        migrations.AddIndex(
            model_name="videocreationjob",
            index=models.Index(
                condition=models.Q(stored_bytes__isnull=True),
                fields=["status"],
                name="jobs_files_unmeasured_idx",
            ),
        ),
    ]
