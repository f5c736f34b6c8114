"""Compatibility names: the citation code lives in `kb.citations`."""
from .citations import *  # noqa: F401,F403
from .citations import __all__  # noqa: F401
