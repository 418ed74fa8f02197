"""Engines that apply canonical changes to a target, one micro-batch at a time."""

from sinks.base import BatchResult, Engine

__all__ = ["BatchResult", "Engine"]
