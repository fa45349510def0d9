"""Outgoing webhooks: endpoints, one delivery per event and endpoint, and its attempts."""
import django.db.models.deletion
import django.utils.timezone
import jobs.webhooks.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0013_cancelled_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.CharField(default=jobs.webhooks.models.new_message_id, editable=False, max_length=40, primary_key=True, serialize=False)),
                ('event_type', models.CharField(choices=[('job.completed', 'A job completed'), ('job.failed', 'A job failed or was cancelled'), ('batch.finished', 'A batch finished (its last job ended)'), ('budget.threshold', 'Spending reached 80 % or 100 % of a budget')], max_length=32)),
                ('event_key', models.CharField(max_length=200)),
                ('payload', models.JSONField()),
                ('status', models.CharField(choices=[('pending', 'Sending'), ('delivered', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('retry_until', models.DateTimeField()),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('response_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('error', models.CharField(blank=True, max_length=300)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'verbose_name_plural': 'webhook deliveries',
                'db_table': 'webhook_deliveries',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveSmallIntegerField()),
                ('at', models.DateTimeField(default=django.utils.timezone.now)),
                ('succeeded', models.BooleanField(default=False)),
                ('response_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('error', models.CharField(blank=True, max_length=300)),
                ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='jobs.webhookdelivery')),
            ],
            options={
                'db_table': 'webhook_attempts',
                'ordering': ['-at', '-number'],
            },
        ),
        migrations.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', models.CharField(default=jobs.webhooks.models.new_endpoint_id, editable=False, max_length=40, primary_key=True, serialize=False)),
                ('url', models.URLField(max_length=2000, verbose_name='URL')),
                ('description', models.CharField(blank=True, max_length=200)),
                ('events', models.JSONField(default=list)),
                ('format', models.CharField(choices=[('standard', 'Standard Webhooks JSON'), ('slack', 'Slack message ({"text": …})')], default='standard', max_length=16)),
                ('for_team', models.BooleanField(default=False)),
                ('is_active', models.BooleanField(default=True, verbose_name='active')),
                ('secret', models.CharField(default=jobs.webhooks.models.new_secret, editable=False, max_length=100)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_endpoints', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'webhook endpoint',
                'db_table': 'webhook_endpoints',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='webhookdelivery',
            name='endpoint',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='jobs.webhookendpoint'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='webhook_delivery_due_idx'),
        ),
        migrations.AddConstraint(
            model_name='webhookdelivery',
            constraint=models.UniqueConstraint(fields=('endpoint', 'event_key'), name='webhook_delivery_once_per_event'),
        ),
    ]
