"""Data migrations carry existing rows forward."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

# serialized_rollback, like every other transactional test here: its flush then leaves
# the content types to be restored, not recreated under the next test.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BEFORE = [("jobs", "0007_list_and_queue_indexes")]
AFTER = [("jobs", "0008_poster_url_on_jobs")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_completed_jobs_get_their_poster_url_on_the_row(django_user_model):
    apps = migrate(BEFORE)
    try:
        Job = apps.get_model("jobs", "VideoCreationJob")
        Resource = apps.get_model("jobs", "VideoResource")
        owner = apps.get_model("auth", "User").objects.create(username="ana")
        fields = {"owner_id": owner.pk, "prompt_text": "A fox", "model": "m", "options": {}}
        with_poster = Job.objects.create(status="completed", metadata={"video": {}}, **fields)
        Resource.objects.create(job=with_poster, type="image", filename="poster.jpg", url="/p/1/")
        Resource.objects.create(job=with_poster, type="audio", filename="audio.m4a", url="/a/")
        without = Job.objects.create(status="failed", **fields)

        apps = migrate(AFTER)
        Job = apps.get_model("jobs", "VideoCreationJob")
        assert Job.objects.get(pk=with_poster.pk).metadata == {"video": {}, "poster_url": "/p/1/"}
        assert Job.objects.get(pk=without.pk).metadata is None
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_existing_drafts_get_their_prompt_count_and_folded_search_text():
    apps = migrate([("drafts", "0002_versions_and_visibility")])
    try:
        Draft = apps.get_model("drafts", "Draft")
        owner = apps.get_model("auth", "User").objects.create(username="ana")
        prompts = [{"id": "a", "text": "Un Café"}, {"id": "b", "text": "東京"}]
        draft = Draft.objects.create(owner_id=owner.pk, name="Été", prompts=prompts)

        apps = migrate([("drafts", "0003_limits_and_search")])
        draft = apps.get_model("drafts", "Draft").objects.get(pk=draft.pk)
        assert draft.prompt_count == 2
        assert draft.search_text == "ete\nun cafe\n東京"
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_jobs_finished_before_the_settled_column_count_as_settled(django_user_model):
    apps = migrate([("jobs", "0008_poster_url_on_jobs")])
    try:
        Job = apps.get_model("jobs", "VideoCreationJob")
        owner = apps.get_model("auth", "User").objects.create(username="ana")
        fields = {"owner_id": owner.pk, "prompt_text": "A fox", "model": "m", "options": {}}
        done = Job.objects.create(status="completed", **fields)
        running = Job.objects.create(status="processing", **fields)

        apps = migrate([("jobs", "0012_pipeline_safety")])
        Job = apps.get_model("jobs", "VideoCreationJob")
        assert Job.objects.get(pk=done.pk).files_settled_at is not None
        assert Job.objects.get(pk=running.pk).files_settled_at is None
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_jobs_cancelled_before_the_column_get_their_cancel_time(django_user_model):
    apps = migrate([("jobs", "0012_pipeline_safety")])
    try:
        Job = apps.get_model("jobs", "VideoCreationJob")
        owner = apps.get_model("auth", "User").objects.create(username="ana")
        fields = {"owner_id": owner.pk, "prompt_text": "A fox", "model": "m", "options": {}}
        ended = timezone.now() - timedelta(hours=1)
        cancelled = Job.objects.create(
            status="failed", error="Cancelled by user", completed_at=ended, **fields
        )
        failed = Job.objects.create(status="failed", error="Boom", completed_at=ended, **fields)
        running = Job.objects.create(status="processing", **fields)

        apps = migrate([("jobs", "0013_cancelled_at")])
        Job = apps.get_model("jobs", "VideoCreationJob")
        assert Job.objects.get(pk=cancelled.pk).cancelled_at == ended
        assert Job.objects.get(pk=failed.pk).cancelled_at is None
        assert Job.objects.get(pk=running.pk).cancelled_at is None
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_existing_jobs_get_their_prompt_folded_for_search():
    apps = migrate([("jobs", "0021_sharing_review_notices")])
    try:
        Job = apps.get_model("jobs", "VideoCreationJob")
        owner = apps.get_model("auth", "User").objects.create(username="ana")
        fields = {"owner_id": owner.pk, "model": "m", "options": {}}
        accented = Job.objects.create(prompt_text="Un Café à Tōkyō", **fields)
        cjk = Job.objects.create(prompt_text="東京の夜", **fields)

        apps = migrate([("jobs", "0022_job_search_text")])
        Job = apps.get_model("jobs", "VideoCreationJob")
        assert Job.objects.get(pk=accented.pk).search_text == "un cafe a tokyo"
        assert Job.objects.get(pk=cjk.pk).search_text == "東京の夜"
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_videos_rated_before_the_stored_average_get_theirs():
    apps = migrate([("drafts", "0006_review"), ("jobs", "0023_job_average_stars")])
    try:
        Job = apps.get_model("jobs", "VideoCreationJob")
        Rating = apps.get_model("drafts", "Rating")
        User = apps.get_model("auth", "User")
        ana, bo = User.objects.create(username="ana"), User.objects.create(username="bo")
        fields = {"owner_id": ana.pk, "model": "m", "options": {}, "status": "completed"}
        rated, unrated = Job.objects.create(**fields), Job.objects.create(**fields)
        board = apps.get_model("drafts", "Storyboard").objects.create(owner_id=bo.pk, name="B")
        cut = apps.get_model("drafts", "Cut").objects.create(storyboard_id=board.pk, signature="s")
        Rating.objects.create(job_id=rated.pk, person_id=ana.pk, stars=2)
        Rating.objects.create(job_id=rated.pk, person_id=bo.pk, stars=5)
        Rating.objects.create(cut_id=cut.pk, person_id=ana.pk, stars=4)

        apps = migrate([("drafts", "0007_average_stars")])
        Job = apps.get_model("jobs", "VideoCreationJob")
        assert Job.objects.get(pk=rated.pk).average_stars == 3.5
        assert Job.objects.get(pk=unrated.pk).average_stars == 0
        assert apps.get_model("drafts", "Cut").objects.get(pk=cut.pk).average_stars == 4
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
