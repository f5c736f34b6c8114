"""The library's exceptions. Each carries a one-line message written for the person at
the keyboard: what happened and what to do. The CLI and the app print it as it is."""


class KBError(Exception):
    """Base class: anything the user can act on. Exit code 1."""


class UsageError(KBError):
    """The command itself was wrong (bad flag value, bad filter). Exit code 2."""


class EmptyKnowledgeBase(KBError):
    """No knowledge base at the directory, or one with no passages."""


class ModelMismatch(KBError):
    """The index was built with a different embedding model than the one configured."""


class ModelUnavailable(KBError):
    """The embedding (or reranking) model cannot be loaded."""


class CorruptKnowledgeBase(KBError):
    """Index files and database disagree; `kb ingest --rebuild` repairs it."""


class Busy(KBError):
    """Another process holds the write lock."""


class ExtractionError(KBError):
    """A file could not be turned into text; the message is the per-file reason."""
