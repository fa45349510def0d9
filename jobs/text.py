"""Text as it is searched: case and accents folded, every other script kept as written."""

import unicodedata


def fold(text) -> str:
    """Fold case and accents, so "Café" and "CAFE" find each other; CJK is kept as is."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
