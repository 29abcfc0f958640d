"""Integrations with host frameworks: :mod:`imflow.contrib.django`.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

__all__: list[str] = []
