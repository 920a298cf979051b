"""Exceptions raised by mlp-core. Each carries a one-line message fit for a user."""


class MLPError(ValueError):
    """Bad input or configuration: the message says what is wrong and what is valid."""


class BackendUnavailable(MLPError, ImportError):
    """A backend's library or device is missing here; the message names the fix."""


class DataError(MLPError):
    """A data file is missing, corrupt, truncated or fails its checksum."""


class WriteError(MLPError, OSError):
    """An output file cannot be written: a bad destination, or the write itself failed.

    Also an ``OSError``, so code that caught the underlying error still catches it.
    """


class ModelFileError(MLPError):
    """A saved model is of another format, version or architecture."""


def choice_error(kind: str, name: object, valid) -> MLPError:
    """The error for an unknown name: lists every valid one."""
    return MLPError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}")


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (or its type's name, if it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


class DataWarning(UserWarning):
    """Data that trains, but probably not as meant (labels that leave classes empty, test
    labels never seen in training)."""
