"""The one exception type for bad input.

The CLI turns a :class:`DataError` into a one-line message and exit code 2; the app shows
it with ``st.error``. Anything else is a bug and propagates.
"""
from __future__ import annotations


class DataError(ValueError):
    """Bad input: a file, a column, a row or a setting the user can fix.

    The message is one line and names what is wrong and where (file, column, row or
    value), e.g. ``"marketing.csv: column 'Income': text 'abc' at row 17 (expected a number)"``.
    """


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message (at most ``limit`` characters), or the name of
    its type when it has no message: what a one-line error shows of a library's error."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
