"""Client links' pages: their owner's list (make, extend, revoke) and what a client opens.

The owner's pages need a login. The client's (/c/<token>/...) need none: they show only
what the link shares, on a page with no studio around it, and answer an unknown token
(404) and a revoked or expired link (410) with the same blank page.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs import storage
from jobs.models import VideoCreationJob
from jobs.serving import serve_file

from ..storyboards.models import Cut, Storyboard
from . import access, links, services
from .models import ClientLink, ClientLinkView

RECENT_TARGETS = 20
RECENT_VIEWS = 5
# Wrong passwords one link takes in PASSWORD_WINDOW seconds before it answers 429.
PASSWORD_ATTEMPTS = 10
PASSWORD_WINDOW = 15 * 60


def _no_store(response):
    patch_cache_control(response, private=True, no_store=True)
    return response


# --- The owner's side -----------------------------------------------------------------


def _target_choices(user, selected):
    """Return the owner's recent completed jobs, ready cuts and storyboards, as (key, name)."""
    jobs = (
        VideoCreationJob.objects.filter(owner=user, status=VideoCreationJob.Status.COMPLETED)
        .exclude(Q(video_url__isnull=True) | Q(video_url=""))
        .order_by("-completed_at", "-created_at")[:RECENT_TARGETS]
    )
    cuts = (
        Cut.objects.filter(storyboard__owner=user, status=Cut.Status.READY)
        .select_related("storyboard")
        .order_by("-created_at")[:RECENT_TARGETS]
    )
    boards = Storyboard.objects.filter(owner=user)[:RECENT_TARGETS]
    groups = [
        ("Videos", [(links.key_of(job), services.video_title(job)) for job in jobs]),
        ("Cuts", [(links.key_of(cut), services.video_title(cut)) for cut in cuts]),
        ("Storyboards", [(links.key_of(board), board.name) for board in boards]),
    ]
    keys = {key for _group, options in groups for key, _name in options}
    if selected and selected not in keys:
        try:  # an older thing of theirs, named by ?target=
            target = links.target_for(user, selected)
        except (Http404, ValidationError, PermissionDenied):
            target = None
        if target is not None:
            groups.insert(0, ("Chosen", [(selected, links.target_title(target))]))
    return groups


def _list(request, *, status=200, created_url=None, error=None, form=None):
    views = ClientLinkView.objects.order_by("-at", "-pk")
    owned = (
        ClientLink.objects.filter(owner=request.user)
        .select_related("job", "cut__storyboard", "storyboard")
        .annotate(view_count=Count("views"))
        .prefetch_related(Prefetch("views", queryset=views[:RECENT_VIEWS], to_attr="recent"))
        .order_by("-created_at")
    )
    form = form or {}
    selected = form.get("target") or request.GET.get("target", "")
    for link in owned:
        link.title = links.target_title(link.target)
    context = {
        "links": owned,
        "groups": _target_choices(request.user, selected),
        "selected": selected,
        "form": form,
        "created_url": created_url,
        "error": error,
        "max_days": links.MAX_DAYS,
    }
    return _no_store(render(request, "review/links/list.html", context, status=status))


@require_GET
def link_list(request):
    return _list(request)


@sensitive_post_parameters("password")
@require_POST
def link_new(request):
    """Make a link; the answer shows its URL once (only the token's hash is kept)."""
    data = request.POST
    form = {
        "target": data.get("target", ""),
        "days": data.get("days", ""),
        "label": data.get("label", ""),
        "guests_may_comment": bool(data.get("guests_may_comment")),
    }
    try:
        target = links.target_for(request.user, form["target"])
        _link, token = links.link_create(
            owner=request.user,
            target=target,
            days=form["days"],
            password=data.get("password", ""),
            guests_may_comment=form["guests_may_comment"],
            label=form["label"],
        )
    except ValidationError as exc:
        return _list(request, status=400, error=" ".join(exc.messages), form=form)
    url = request.build_absolute_uri(reverse("links:open", args=[token]))
    return _list(request, status=201, created_url=url)


def _own_link(request, pk):
    return get_object_or_404(ClientLink, pk=pk, owner=request.user)


@require_POST
def link_extend(request, pk):
    link = _own_link(request, pk)
    try:
        links.link_extend(link=link, days=request.POST.get("days", ""))
    except ValidationError as exc:
        return _list(request, status=400, error=" ".join(exc.messages))
    until = f"{timezone.localtime(link.expires_at):%Y-%m-%d %H:%M}"
    messages.success(request, f"The link {links.link_name(link)} now opens until {until}.")
    return redirect("links:list")


@require_POST
def link_revoke(request, pk):
    link = _own_link(request, pk)
    links.link_revoke(link=link)
    messages.success(request, f"Revoked the link {links.link_name(link)}; it opens nothing now.")
    return redirect("links:list")


# --- The client's side ----------------------------------------------------------------


def _client_headers(response):
    # same-origin, not no-referrer: the token never leaves for another site, and the
    # guest's comment form still sends its origin (with no-referrer a browser sends
    # "Origin: null", which Django's CSRF check rightly refuses).
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def _blank(request, status):
    return render(request, "review/links/blank.html", status=status)


def client_route(view):
    """Open the link of the URL's token for view(request, link, ...); closed ones are blank."""

    @login_not_required
    @wraps(view)
    def wrapped(request, token, *args, **kwargs):
        try:
            response = view(request, links.link_for_token(token), token, *args, **kwargs)
        except links.LinkGone:
            response = _blank(request, 410)
        except Http404:
            response = _blank(request, 404)
        return _client_headers(response)

    return wrapped


def _see(url):
    """Redirect with 303 See Other: the form was taken, the page is to be fetched anew."""
    response = redirect(url)
    response.status_code = 303
    return response


def _unlocked(request, link) -> bool:
    return not link.password or bool(request.session.get(f"link:{link.pk}"))


def _locked(request, link, *, error="", status=200):
    context = {"token_url": request.path, "error": error}
    return render(request, "review/links/password.html", context, status=status)


def _heading(link) -> str:
    if link.label:
        return link.label
    target = link.target
    if isinstance(target, Storyboard):
        return target.name
    if isinstance(target, Cut):
        return target.storyboard.name
    return "A video for you"


def _page(request, link, token, *, status=200, error="", form=None):
    items = []
    for video in links.shared_videos(link):
        kind = access.kind_of(video)
        if isinstance(video, Cut):
            name = "The cut"
        elif hasattr(video, "shot"):
            name = f"Shot {video.shot.position}"
        else:
            name = ""
        items.append(
            {
                "key": access.key_of(video),
                "name": name,
                "src": reverse("links:video", args=[token, kind, video.pk]),
            }
        )
    context = {
        "heading": _heading(link),
        "items": items,
        "may_comment": link.guests_may_comment and bool(items),
        "comment_url": reverse("links:comment", args=[token]),
        "error": error,
        "form": form or {},
        "expires_at": link.expires_at,
    }
    return render(request, "review/links/open.html", context, status=status)


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
@client_route
def link_open(request, link, token):
    if request.method == "POST":
        if not link.password:
            return _see(request.path)
        tries_key = f"link-password-tries:{link.pk}"
        if cache.get(tries_key, 0) >= PASSWORD_ATTEMPTS:
            error = "Too many wrong passwords for this link; wait a quarter of an hour."
            return _locked(request, link, error=error, status=429)
        if not links.password_matches(link, request.POST.get("password", "")):
            cache.add(tries_key, 0, PASSWORD_WINDOW)
            cache.incr(tries_key)
            error = "That password is not the one this link asks for."
            return _locked(request, link, error=error, status=403)
        request.session[f"link:{link.pk}"] = True
        return _see(request.path)
    if not _unlocked(request, link):
        return _locked(request, link)
    links.view_log(link, request, "page")
    return _page(request, link, token)


@require_GET
@client_route
def link_video(request, link, token, kind, pk):
    if not _unlocked(request, link):
        return _locked(request, link, status=403)
    video = links.shared_video(link, kind, pk)
    if isinstance(video, Cut):
        name = storage.relative_storyboard_file(video.storyboard_id, f"cuts/{video.pk}/cut.mp4")
    else:
        name = video.video_url
    response = serve_file(request, name, content_type="video/mp4")
    links.view_log(link, request, access.key_of(video))
    return response


@require_POST
@client_route
def link_comment(request, link, token):
    if not _unlocked(request, link):
        return _locked(request, link, status=403)
    if not link.guests_may_comment:
        return render(request, "review/links/refused.html", status=403)
    data = request.POST
    form = {key: data.get(key, "") for key in ("guest_name", "text", "at_seconds", "video")}
    videos = links.shared_videos(link)
    if form["video"]:
        kind, _, pk = form["video"].partition(":")
        video = links.shared_video(link, kind, pk)
    elif len(videos) == 1:
        video = videos[0]
    else:
        error = "Choose the video your comment is about."
        return _page(request, link, token, status=400, error=error, form=form)
    try:
        services.comment_add(
            video=video,
            text=form["text"],
            guest_name=form["guest_name"],
            link=link,
            at_seconds=form["at_seconds"],
        )
    except ValidationError as exc:  # a flood too: services says when to try again
        error = " ".join(exc.messages)
        return _page(request, link, token, status=400, error=error, form=form)
    messages.success(request, "Thank you: your comment was sent.")
    return _see(reverse("links:open", args=[token]))
