"""Errors meant for the user: one line that says what is wrong and what to do."""


class TingshuoError(Exception):
    """A problem the user can fix (bad input, missing package, unwritable path).

    The CLI prints it as one line and exits non-zero, without a traceback.
    """


class AudioError(TingshuoError):
    """An input that cannot be decoded as audio."""


class ModelError(TingshuoError):
    """A model package that is missing, incomplete or corrupt."""


class StoreError(TingshuoError):
    """The database refused a write or a read (a full disk, a lost server): what was stored
    stays."""

    status = 503
