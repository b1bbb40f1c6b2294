"""One exception type for every failure whose cause we know."""


class SegshiftError(Exception):
    """A user-facing error: one line that names the file and the fix."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
