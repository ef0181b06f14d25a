"""Settings the machine cannot meet, and indexes that cannot be used: each error's message is one
sentence a person can act on.

The CLI prints it as its error and the server puts it on /health, never with a traceback. Kept apart
from the modules that raise them so `qa --help` does not import FAISS or Milvus to know them.
"""

from __future__ import annotations


class SetupError(ValueError):
    """A setting names something this machine or network does not offer."""


class DeviceError(SetupError):
    """The configured device does not exist on this machine (or is not a device name)."""


class MilvusConfigError(SetupError):
    """The Milvus store cannot be used as configured (missing packages, unreachable server, bad path)."""


class IndexLoadError(RuntimeError):
    """The index cannot be used."""


class IndexMissingError(IndexLoadError):
    """No index has been built in this folder yet."""


class IndexCorruptError(IndexLoadError):
    """The index folder exists but is damaged, from another format, or from another model."""


class RaySetupError(SetupError):
    """The Ray build cannot run as asked (Ray not installed, a cluster address that does not answer)."""
