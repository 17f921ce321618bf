"""Secrets kept out of what a process prints: a URL as logs and errors may show it.

Database and Redis URLs carry their password (`postgresql://user:pw@host/db`,
`redis://:pw@host:6379/0`); every message that names one shows it through `hide_password`.
It lives on the lowest floor so that the store, the bus and the command line share it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

HIDDEN = "***"

# a password given as a query parameter (redis-py and libpq both read one there)
_QUERY_PASSWORD = re.compile(r"(?i)((?:^|&)password=)[^&]*")
# the last resort for a string urlsplit cannot take apart: `//user:pw@`
_USERINFO = re.compile(r"(//[^/@:]*:)[^@]*@")


def hide_password(url: str) -> str:
    """`url` with its password (in the user part or the query) replaced by `***`; a URL
    without one comes back unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(rf"\g<1>{HIDDEN}@", url)
    netloc, query = parts.netloc, parts.query
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{HIDDEN}@{host}"
    query = _QUERY_PASSWORD.sub(rf"\g<1>{HIDDEN}", query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))
