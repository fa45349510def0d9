"""What the templates promise assistive technology, read from the pages they render."""

from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from drafts import services as draft_services
from jobs.models import Batch, VideoCreationJob
from tests.factories import JOB_OPTIONS

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MODEL = "veo-3.1-fast-generate-preview"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class Element:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.walk()

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class Tree(HTMLParser):
    """A page's elements as a tree, enough to ask where an id or a live region is."""

    def __init__(self, html):
        super().__init__()
        self.root = self.current = Element("#root", {}, None)
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)

    def by_id(self, element_id):
        return next((e for e in self.root.walk() if e.attrs.get("id") == element_id), None)

    def all(self, predicate):
        return [e for e in self.root.walk() if predicate(e)]


def tree(response):
    return Tree(response.content.decode())


def dangling_descriptions(page):
    """Return the aria-describedby ids that name no element of the page."""
    return [
        (element.attrs.get("name"), target)
        for element in page.all(lambda e: "aria-describedby" in e.attrs)
        for target in element.attrs["aria-describedby"].split()
        if page.by_id(target) is None
    ]


@pytest.fixture
def draft(user):
    return draft_services.draft_save(author=user, name="Harbour", prompts=["Gulls over {{p}}"])


def test_every_field_description_names_an_element_of_its_page(logged_in, draft):
    htmx = {"HX-Request": "true", "HX-Target": "editor"}
    editor_post = {"name": "", "visibility": "private", "mode": "list", "op": "save"}
    responses = {
        "create form": logged_in.get(reverse("jobs:index")),
        "create form, refused": logged_in.post(reverse("jobs:index"), {"prompt_text": ""}),
        "tokens": logged_in.get(reverse("api-tokens")),
        "tokens, refused": logged_in.post(reverse("api-tokens"), {"name": ""}),
        "usage": logged_in.get(reverse("jobs:usage")),
        "usage, refused": logged_in.get(reverse("jobs:usage"), {"start": "soon"}),
        "library": logged_in.get(reverse("drafts:library")),
        "editor, refused": logged_in.post(reverse("drafts:new"), editor_post),
        "editor, refused to htmx": logged_in.post(reverse("drafts:new"), editor_post, headers=htmx),
        "run": logged_in.get(reverse("drafts:run", args=[draft.pk])),
        "run, refused": logged_in.post(reverse("drafts:run", args=[draft.pk]), {"version": 1}),
    }
    described = {}
    for name, response in responses.items():
        page = tree(response)
        described[name] = len(page.all(lambda e: "aria-describedby" in e.attrs))
        assert dangling_descriptions(page) == [], name
    assert described["create form"] and described["run"] and described["library"]
    refused = tree(responses["create form, refused"]).by_id("id_prompt_text")
    assert refused.attrs["aria-describedby"] == "id_prompt_text_helptext id_prompt_text_error"


def test_the_login_page_describes_nothing_it_lacks(client):
    assert dangling_descriptions(tree(client.get(reverse("login")))) == []


def test_the_first_estimate_comes_with_the_page(logged_in, settings):
    settings.VEO_MODEL = MODEL
    page = tree(logged_in.get(reverse("jobs:index")))
    estimate = page.by_id("estimate")
    assert "Estimated cost: $" in " ".join(estimate.text().split())
    wrapper = estimate.parent
    assert wrapper.attrs["hx-trigger"] == "change from:#job-form"
    assert wrapper.attrs["hx-get"] == reverse("jobs:estimate")
    # A refused form shows the estimate of the options it sent.
    options = {"model": MODEL, "aspect_ratio": "16:9", "resolution": "4k", "duration_seconds": 8}
    refused = tree(logged_in.post(reverse("jobs:index"), {"prompt_text": "", **options}))
    assert "$2.40" in refused.by_id("estimate").text()


def test_no_template_selects_its_part_from_a_whole_page():
    assert [p.name for p in TEMPLATES.rglob("*.html") if "hx-select" in p.read_text()] == []


def test_the_editor_answers_htmx_with_its_form_alone(logged_in):
    data = {"name": "", "visibility": "private", "mode": "list", "op": "save"}
    headers = {"HX-Request": "true", "HX-Target": "editor"}
    swapped = logged_in.post(reverse("drafts:new"), data, headers=headers)
    assert swapped.status_code == 422  # the status base.html's htmx config swaps
    body = swapped.content.decode()
    assert body.lstrip().startswith('<form method="post" id="editor"') and "<html" not in body
    whole = logged_in.post(reverse("drafts:new"), data)
    assert whole.status_code == 400 and "<html" in whole.content.decode()


def live_wrapper_of(page, element_id):
    """Return the nearest live region around the element, checking the element is not one."""
    element = page.by_id(element_id)
    assert "aria-live" not in element.attrs and "role" not in element.attrs
    return next(a for a in element.ancestors() if "aria-live" in a.attrs)


def test_live_regions_are_the_wrappers_that_stay_while_polls_swap_inside(logged_in, user):
    job = VideoCreationJob.objects.create(
        owner=user, prompt_text="A heron", model=MODEL, options=JOB_OPTIONS
    )
    detail = tree(logged_in.get(reverse("jobs:detail", args=[job.pk])))
    status = detail.by_id("job-status")
    assert status.attrs["hx-swap"] == "outerHTML"  # replaced, so not the live region
    assert live_wrapper_of(detail, "job-status").attrs["aria-live"] == "polite"
    batch = Batch.objects.create(owner=user, label="Herons")
    job.batch = batch
    job.save()
    summary = tree(logged_in.get(reverse("jobs:batch", args=[batch.pk])))
    assert live_wrapper_of(summary, "batch-summary").attrs["aria-live"] == "polite"
    index = tree(logged_in.get(reverse("jobs:index")))
    estimate_region = live_wrapper_of(index, "estimate")
    assert estimate_region.attrs["hx-swap"] == "innerHTML"  # the wrapper stays
    toasts = index.by_id("toasts")
    assert toasts.attrs["aria-live"] == "polite"
    assert index.by_id("notice-poller").attrs["hx-target"] == "#toasts"


def test_a_toast_is_announced_once_by_its_region_and_reads_trimmed(logged_in, user):
    since = timezone.now() - timedelta(minutes=5)
    ended = {"status": "completed", "completed_at": timezone.now(), "options": JOB_OPTIONS}
    VideoCreationJob.objects.create(owner=user, prompt_text="A heron", model=MODEL, **ended)
    batch = Batch.objects.create(owner=user, label="Herons")
    VideoCreationJob.objects.create(
        owner=user, prompt_text="A crane", model=MODEL, batch=batch, **ended
    )
    response = logged_in.get(reverse("jobs:notices"), {"since": since.isoformat()})
    toasts = tree(response).all(lambda e: "toast" in e.attrs.get("class", "").split())
    assert len(toasts) == 2
    for toast in toasts:
        assert not any("role" in e.attrs or "aria-live" in e.attrs for e in toast.walk())
        assert toast.text() == toast.text().strip()
    assert [t.text() for t in toasts] == [
        "Video ready: A heron",
        "Batch finished: Herons (1 completed, 0 failed)",
    ]
