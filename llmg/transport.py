"""Compatibility: the transports moved to the ``llmg.transports`` package (one module each).

Kept so that code written against ``llmg.transport`` keeps importing; new code imports from
``llmg.transports``.
"""

from __future__ import annotations

from .transports import TRANSPORT_NAMES, Limits, Timeout, Transport, UpstreamResponse, UpstreamStream, open_transport

__all__ = ["TRANSPORT_NAMES", "Limits", "Timeout", "Transport", "UpstreamResponse", "UpstreamStream", "open_transport"]


def __getattr__(name: str) -> object:
    from . import transports

    return getattr(transports, name)
