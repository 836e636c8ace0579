"""What the stores on a database server share: the error they raise and URLs safe to print.

::

    SlokitError
    └── StoreUnavailableError   the server cannot be reached, timed out or refused the command
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from slokit.errors import SlokitError

_PASSWORD_FIELD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)")


class StoreUnavailableError(SlokitError, ConnectionError):
    """A shared store's server cannot serve: unreachable, timed out, or it refused the command.

    The message names the server (password hidden) and what to check. The cache cannot answer
    while this lasts; a caller that prefers serving uncached replies catches this error.
    """


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``: URLs and libpq ``key=value`` strings."""
    if "://" not in url:
        return _PASSWORD_FIELD.sub(r"\1***", url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
