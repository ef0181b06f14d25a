"""qa: question answering over Chinese newspaper archives, offline on a CPU."""

__version__ = "0.1.0"
