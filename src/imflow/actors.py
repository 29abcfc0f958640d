"""Who acts: an :class:`Actor` with a role, and the provider and district it works for.

>>> from imflow import Actor, Role
>>> Actor("im-17", Role.MANAGER, provider="caritas-wt", district="08337").role.value
'manager'

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import Any

import attrs

from imflow.enums import Role

__all__ = ["SYSTEM", "Actor"]


def _role(value: Any) -> Role:
    if type(value) is Role:
        return value
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValueError(f"'role' must be a Role (one of {choices})") from None


@attrs.frozen
class Actor:
    """A pseudonymous actor: a staff id, never a name.

    ``provider`` and ``district`` bound what a manager may touch; the ``system`` actor
    runs deadline sweeps.
    """

    id: str
    role: Role = attrs.field(converter=_role)
    provider: str | None = None
    district: str | None = None


SYSTEM = Actor("imflow-system", Role.SYSTEM)
"""The actor that deadline sweeps act as."""
