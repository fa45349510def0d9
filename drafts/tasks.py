"""django-q2 entry points for storyboards and review: thin adapters over their services."""

from .review import services as review
from .storyboards import services


def assemble_cut(cut_id):
    return services.cut_assemble(cut_id)


def recover_cuts():
    return services.cuts_recover()


def email_mention(comment_id, person_id):
    return review.mention_email(comment_id, person_id)
