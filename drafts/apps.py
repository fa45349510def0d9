from django.apps import AppConfig
from django.db.models import Q


class DraftsConfig(AppConfig):
    name = "drafts"
    verbose_name = "Prompt drafts"

    def ready(self):
        from jobs import signals

        from .storyboards import receivers

        signals.job_ended.connect(receivers.take_job_ended, dispatch_uid="storyboards-take-ended")

        # A video's stored average stars follow its ratings (drafts.review.averages).
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save, pre_delete

        from .review import averages
        from .review.models import Rating

        post_save.connect(averages.rating_saved, sender=Rating, dispatch_uid="rating-saved")
        post_delete.connect(averages.rating_saved, sender=Rating, dispatch_uid="rating-deleted")
        person = get_user_model()
        pre_delete.connect(averages.person_leaving, sender=person, dispatch_uid="rater-leaving")
        post_delete.connect(averages.person_left, sender=person, dispatch_uid="rater-left")

        # A take of a shared storyboard is the team's to see, as the storyboard is.
        from jobs.models import SHARED_JOB_PATHS

        if shared_takes not in SHARED_JOB_PATHS:
            SHARED_JOB_PATHS.append(shared_takes)


def shared_takes():
    return Q(take__shot__storyboard__visibility="shared")
