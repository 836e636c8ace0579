"""The HTML document around the report's sections: inline stylesheet, inline script, policy.

Nothing is fetched: the stylesheet and the one script are inlined, and a Content Security
Policy forbids every other source. The policy admits the script by its SHA-256 hash, so even a
string that slipped past escaping could not run as script.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from importlib import resources


def document(*, title: str, body: str, footer: str) -> str:
    """A complete, self-contained HTML page."""
    package = resources.files(__package__ or "slokit.report")
    style = package.joinpath("style.css").read_text(encoding="utf-8")
    script = package.joinpath("checks.js").read_text(encoding="utf-8")
    script_hash = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body>{body}<footer>{escape(footer)}</footer><script>{script}</script></body></html>\n"
    )
