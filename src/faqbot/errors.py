"""The few exceptions faqbot raises; each message says what to do about it."""


class FaqbotError(Exception):
    """Base class: the message is one line a user can act on."""


class PageError(FaqbotError):
    """A page cannot be read; the build reports it and skips the page."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexMissingError(FaqbotError):
    """No index has been built yet."""


class IndexMismatchError(FaqbotError):
    """The index on disk was built differently from what the code or model expects now."""


class ModelError(FaqbotError):
    """The embedding model cannot be loaded."""
