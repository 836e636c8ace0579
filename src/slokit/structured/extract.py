"""Finding where a JSON value sits in model text: code fences, prose around it, several values.

Everything here runs at C speed (``str.find`` and compiled regular expressions) so that the
search costs little next to the repair it precedes.
"""

from __future__ import annotations

import re

_FENCE = "```"
# The language tag after an opening fence: ```json, ```JSON, ```python ...
_TAG = re.compile(r"[ \t]*[A-Za-z0-9_+-]*[ \t]*\r?\n?")
_OPENER = re.compile(r"[{\[]")
_CLOSER = {"{": "}", "[": "]"}


def fenced_blocks(text: str) -> list[str]:
    """The contents of each ```` ``` ```` block, in order; empty blocks left out.

    A block runs to the closing fence or, for a reply cut off by max_tokens, to the end of
    the text. Found with ``str.find``: a lazy ``(.*?)`` pattern costs ~40 us per 10 KB.
    """
    blocks: list[str] = []
    start = text.find(_FENCE)
    while start >= 0:
        tag = _TAG.match(text, start + len(_FENCE))
        body = tag.end() if tag is not None else start + len(_FENCE)
        end = text.find(_FENCE, body)
        block = text[body:] if end < 0 else text[body:end]
        if block.strip():
            blocks.append(block)
        if end < 0:
            break
        start = text.find(_FENCE, end + len(_FENCE))
    return blocks


def first_opener(text: str) -> int:
    """Index of the first ``{`` or ``[``, or -1."""
    match = _OPENER.search(text)
    return -1 if match is None else match.start()


def spans(text: str) -> list[str]:
    """Substrings that may be strict JSON once the prose around them is cut away.

    For each kind of opener, the text from its first occurrence to the last matching closer:
    ``Sure! {"a": 1} Hope this helps.`` gives ``{"a": 1}``. The opener met first comes first.
    """
    found: list[tuple[int, str]] = []
    for opener, closer in _CLOSER.items():
        start = text.find(opener)
        end = text.rfind(closer)
        if 0 <= start < end:
            found.append((start, text[start : end + 1]))
    found.sort()
    return [span for _, span in found]


def repair_targets(text: str, *, limit: int) -> list[str]:
    """Texts worth handing to the repairer, most likely first, at most ``limit``.

    The contents of code fences first (a model that fences its JSON means the fence), then the
    text from the first opener on: the repairer skips trailing prose itself, but prose before
    the value can be misread as an unquoted key, so it is cut here.
    """
    targets: list[str] = []
    for block in fenced_blocks(text):
        start = first_opener(block)
        targets.append(block[start:] if start >= 0 else block)
    start = first_opener(text)
    targets.append(text[start:] if start >= 0 else text)
    unique = list(dict.fromkeys(target.strip() for target in targets))
    return [target for target in unique if target][:limit]
