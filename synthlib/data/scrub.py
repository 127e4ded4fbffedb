"""Personal data in query strings: found and replaced by a placeholder at ingest.

People type e-mail addresses, phone numbers, card numbers and links with session tokens
into search boxes. Each kind is one regular expression, valid in both Java (Spark) and
Python, replaced by `<kind>`; the counts of scrubbed rows go to the run summary.
"""
from __future__ import annotations

import re

from pyspark.sql import Column
from pyspark.sql import functions as F

# Applied in this order: a URL may hold an e-mail address, a card number looks like a phone.
PATTERNS = {
    # A link with a query string, a fragment or a long token-like path segment.
    "url": r"(?i)\b(?:https?://|www\.)\S*(?:[?#=]|[A-Za-z0-9_-]{16,})\S*",
    "email": r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
    # 13 to 19 digits, single spaces or dashes between them.
    "card": r"\b\d(?:[ -]?\d){12,18}\b",
    # +country code and 7 to 12 more digits in groups; or 3, 3 and 4 digits (area code in
    # brackets or not). A bare 11- or 12-digit run is a product code, not a phone.
    "phone": r"(?<![\w+])(?:\+\d{1,3}(?:[ .-]?\d{2,4}){2,3}|(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4})\b",
}
_COMPILED = {kind: re.compile(p) for kind, p in PATTERNS.items()}


def scrub(text: str | None) -> tuple[str | None, list[str]]:
    """(scrubbed text, kinds found) of one string."""
    if text is None:
        return None, []
    found = []
    for kind, pattern in _COMPILED.items():
        text, n = pattern.subn(f"<{kind}>", text)
        if n:
            found.append(kind)
    return text, found


def scrub_column(col: str) -> tuple[Column, dict[str, Column]]:
    """(scrubbed column, {kind: whether the original held that kind}) for a string column."""
    out, flags = F.col(col), {}
    for kind, pattern in PATTERNS.items():
        flags[kind] = F.coalesce(out.rlike(pattern), F.lit(False))
        out = F.regexp_replace(out, pattern, f"<{kind}>")
    return out, flags
