"""The URLs of many rows of one kind, from one reverse() per URL name.

A page that links every row to several views (a storyboard's 50 shots and 200 takes, each
with its forms) paid the URL resolver's reverse() about 1,000 times, some 28 µs each: a
quarter of the page. Links reverses each name once, with a placeholder where the row's
key goes, and fills the key in per row; what it gives equals reverse()'s answer.
"""

from urllib.parse import quote

from django.urls import reverse
from django.utils.http import RFC3986_SUBDELIMS

PLACEHOLDER = "0links0placeholder0"
# What reverse() leaves unquoted in a path argument (django.urls.resolvers), but "/": the
# keys filled in are single path segments.
SAFE = RFC3986_SUBDELIMS + "~:@"


class Links:
    """Links({"edit": "app:shot-edit", ...}, board.pk)(shot.pk) -> {"edit": "/.../", ...}.

    Each URL name takes the given leading arguments and then the row's key, last; a name
    given as a tuple, ("app:video", "job"), brings its own leading arguments. The key fills
    one path segment (a `str` converter's): a "/" in it is quoted, where reverse() would
    refuse it.
    """

    def __init__(self, names, *leading):
        self._patterns = {}
        for key, name in names.items():
            name, *args = (name, *leading) if isinstance(name, str) else name
            self._patterns[key] = reverse(name, args=[*args, PLACEHOLDER])

    def __call__(self, key):
        value = quote(str(key), safe=SAFE)
        return {name: url.replace(PLACEHOLDER, value) for name, url in self._patterns.items()}
