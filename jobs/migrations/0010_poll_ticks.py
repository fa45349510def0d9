"""A due time per job, so a run does one step and the cluster's ticker brings the next."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0009_token_scope_and_view_all'),
    ]

    operations = [
        migrations.AddField(
            model_name='videocreationjob',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='videocreationjob',
            name='next_run_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='videocreationjob',
            name='poll_failures',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name='videocreationjob',
            index=models.Index(
                condition=models.Q(('status__in', ['idle', 'processing'])),
                fields=['next_run_at'],
                name='jobs_next_run_idx',
            ),
        ),
    ]
