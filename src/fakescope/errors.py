"""One exception hierarchy, rooted at :class:`FakescopeError`."""

from __future__ import annotations

__all__ = [
    "FakescopeError",
    "DecodeError",
    "UnsupportedFormatError",
    "ImageTooLargeError",
    "EmptyFileError",
    "TruncatedFileError",
    "UnknownNameError",
    "WeightsError",
    "MissingDependencyError",
    "UsageError",
]


class FakescopeError(Exception):
    """Base class of every error fakescope raises on purpose."""


class UsageError(FakescopeError, ValueError):
    """The caller asked for something that makes no sense (bad option, bad value)."""


class DecodeError(FakescopeError):
    """An input could not be decoded into an image."""


class EmptyFileError(DecodeError):
    """The input file has no bytes."""


class TruncatedFileError(DecodeError):
    """The input file ends before the image data does."""


class UnsupportedFormatError(DecodeError):
    """The bytes are not an image format fakescope can read."""


class ImageTooLargeError(DecodeError):
    """The image exceeds a configured limit (pixels, bytes, frames): a possible decompression bomb."""


class UnknownNameError(FakescopeError, KeyError):
    """A registry lookup used a name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


class WeightsError(FakescopeError):
    """A weights file is missing, corrupt or does not match its card."""


class MissingDependencyError(FakescopeError, ImportError):
    """An optional dependency (an extra) is needed for this feature."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the optional package {package!r}: "
            f"install it with  pip install 'fakescope[{extra}]'"
        )
        self.package = package
        self.extra = extra
