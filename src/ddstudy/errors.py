"""The one exception type users see.

Library code raises :class:`DDStudyError` with a single line that names the problem and the fix; only the CLI
turns it into a message on stderr and a non-zero exit code (the reference scripts call ``exit()`` mid-library).
"""


class DDStudyError(Exception):
    """A user-facing error: one line, naming what is wrong and how to fix it."""
