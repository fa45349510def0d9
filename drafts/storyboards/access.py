"""Who may see and who may work on a storyboard: the one lookup pages and the API share.

Another person's private storyboard is a 404, like one that does not exist. A shared
storyboard is the team's to work on (shots, takes, picks, trims, cuts); only its owner
(or staff with drafts.change_storyboard) renames it, shares it or deletes it (else 403).
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from .models import Cut, Shot, Storyboard, Take


def get_storyboard_for_user(user, pk, *, work=False, own=False) -> Storyboard:
    """Return the storyboard if user may see it (404), work on it (work) or own it (own)."""
    storyboard = get_object_or_404(
        Storyboard.objects.visible_to(user).select_related("owner"), pk=pk
    )
    if own and not is_owner(user, storyboard):
        raise PermissionDenied("Only the storyboard's owner can do this.")
    if work and not can_work(user, storyboard):
        raise PermissionDenied("Only the storyboard's owner can change it until it is shared.")
    return storyboard


def is_owner(user, storyboard) -> bool:
    return storyboard.owner_id == user.pk or (
        user.is_staff and user.has_perm("drafts.change_storyboard")
    )


def can_work(user, storyboard) -> bool:
    """Return whether user may change the shots, make takes, pick, trim and assemble."""
    return is_owner(user, storyboard) or storyboard.is_shared


def get_shot(storyboard, shot_pk) -> Shot:
    shot = get_object_or_404(storyboard.shots.select_related("picked__job"), pk=shot_pk)
    shot.storyboard = storyboard
    return shot


def get_take(storyboard, take_pk) -> Take:
    return get_object_or_404(
        Take.objects.select_related("job", "shot"), pk=take_pk, shot__storyboard=storyboard
    )


def get_cut(storyboard, cut_pk) -> Cut:
    return get_object_or_404(storyboard.cuts, pk=cut_pk)
