"""Streaming readers: raw records plus their transport position, nothing decoded."""

from sources.files import landing_path, read_landing_files

__all__ = ["landing_path", "read_landing_files"]
