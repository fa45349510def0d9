"""Pages of lists too long to count on every view: the job list grows without end.

Django's Paginator runs a COUNT(*) over every row the list could show, for "page N of
M". On 100,000 jobs that one query took longer than a bare list view's whole request
(bench/pages.py), so the job list reads one row beyond the page instead: enough to know
whether an older page exists.
"""

from dataclasses import dataclass


@dataclass
class Page:
    object_list: list
    number: int
    has_next: bool

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)

    @property
    def has_previous(self):
        return self.number > 1

    @property
    def has_other_pages(self):
        return self.has_previous or self.has_next

    @property
    def previous_page_number(self):
        return self.number - 1

    @property
    def next_page_number(self):
        return self.number + 1


MAX_PAGE = 10**9


def page_of(queryset, number, *, per_page):
    """Return page `number` (1-based; anything else is 1) of an ordered queryset."""
    try:
        # Past any page a database can seek to (an OFFSET beyond 64 bits is refused).
        number = min(max(1, int(number)), MAX_PAGE)
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * per_page
    rows = list(queryset[start : start + per_page + 1])
    return Page(rows[:per_page], number, has_next=len(rows) > per_page)
