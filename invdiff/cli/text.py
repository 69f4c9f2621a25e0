"""Docstrings as terminal text: ``--help`` shows module docstrings without their reStructuredText markup."""

from __future__ import annotations

import re

_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")  # :mod:`a.b` → a.b, :func:`~a.b` → a.b (display text)
_LITERAL = re.compile(r"``(.+?)``")
_STRONG = re.compile(r"\*\*(.+?)\*\*")


def plain_text(doc: str | None) -> str:
    """``doc`` with roles, inline literals and bold markup replaced by their plain text."""
    text = _ROLE.sub(lambda m: m.group(1).split(".")[-1] if m.group(0).find("`~") >= 0 else m.group(1), doc or "")
    return _STRONG.sub(r"\1", _LITERAL.sub(r"\1", text))
