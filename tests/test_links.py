"""videostudio.links: many rows' URLs from one reverse() a name, equal to reverse()'s."""

import pytest
from django.urls import reverse

from drafts.storyboards.views import REVIEW_LINKS, SHOT_LINKS, TAKE_LINKS
from videostudio.links import Links

KEYS = ["01JABCDEF", "3cdeb02e-acc3-41e7-9137-b5a7b78d92c7", 42, "a b", "été", "x;y=z@:~"]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(("names", "leading"), [(SHOT_LINKS, ["board-1"]), (TAKE_LINKS, ["b 2"])])
def test_each_link_is_what_reverse_gives(names, leading, key):
    links = Links(names, *leading)(key)
    assert links == {short: reverse(name, args=[*leading, key]) for short, name in names.items()}


@pytest.mark.parametrize("key", KEYS)
def test_a_name_may_bring_its_own_leading_arguments(key):
    links = Links({**REVIEW_LINKS, "video": "jobs:video"})(key)
    assert links == {
        "review": reverse("review:video", args=["job", key]),
        "video": reverse("jobs:video", args=[key]),
    }
