"""Polling holds no worker: a real qcluster with 2 workers keeps many generations going.

The cluster and the emulator are the resilience tests' (a real `manage.py qcluster`
process, the emulator over HTTP); their fixtures are reused here.
"""

import time

import pytest

from jobs import services
from jobs.models import VideoCreationJob
from tests.factories import JOB_OPTIONS, MODEL, Stage
from tests.jobs.test_resilience import (  # noqa: F401  (fixtures)
    cluster,
    emulator,
    wait_until_all_finished,
)

pytestmark = [
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_two_workers_submit_every_job_before_the_first_is_done(cluster, emulator, user):  # noqa: F811
    """With runs that slept through their polls, each worker held one job until Veo was done."""
    prompts = [f"Many at once {n} [latency=10]" for n in range(8)]
    jobs = [
        services.job_create(owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS)
        for prompt in prompts
    ]
    cluster.env["VEO_TASK_SLICE_SECONDS"] = "60"  # the default: no slicing to hide behind
    cluster.start()
    ids = [job.pk for job in jobs]
    give_up = time.monotonic() + 60
    while VideoCreationJob.objects.filter(pk__in=ids, operation_name__isnull=True).exists():
        assert time.monotonic() < give_up, "the jobs were never all submitted"
        time.sleep(0.1)
    later = VideoCreationJob.objects.filter(
        pk__in=ids, stage__in=[Stage.DOWNLOADING, Stage.FINISHING, Stage.DONE]
    )
    assert not later.exists(), "a job was done before the last was even submitted"
    wait_until_all_finished(timeout=120)
    assert VideoCreationJob.objects.filter(pk__in=ids, status="completed").count() == len(ids)
    assert all(emulator.submits_for(prompt) == 1 for prompt in prompts)
