"""Errors a user can act on: each message says what is wrong and what to do about it."""


class UserFacingError(Exception):
    """Shown to the user as is, without a traceback; the process exits non-zero."""
