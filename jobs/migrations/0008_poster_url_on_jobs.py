"""Copy each completed job's poster URL onto its row, where job lists now read it."""

from django.db import migrations


def poster_urls(apps, schema_editor):
    VideoCreationJob = apps.get_model("jobs", "VideoCreationJob")
    VideoResource = apps.get_model("jobs", "VideoResource")
    posters = VideoResource.objects.filter(filename="poster.jpg").values_list("job_id", "url")
    for job_id, url in posters.iterator():
        job = VideoCreationJob.objects.filter(pk=job_id).only("metadata").first()
        if job is not None and "poster_url" not in (job.metadata or {}):
            job.metadata = {**(job.metadata or {}), "poster_url": url}
            job.save(update_fields=["metadata"])


class Migration(migrations.Migration):
    dependencies = [("jobs", "0007_list_and_queue_indexes")]

    operations = [migrations.RunPython(poster_urls, migrations.RunPython.noop)]
