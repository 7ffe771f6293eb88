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
