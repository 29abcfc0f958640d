"""The Django app of imflow (``INSTALLED_APPS = [..., "imflow.contrib.django"]``)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig

__all__ = ["ImflowConfig"]


class ImflowConfig(AppConfig):
    """imflow's tables (as Django migrations), its read-only admin, and the store and
    service built from the ``IMFLOW`` setting, once per process.

    .. versionadded:: 0.2.0
    """

    name = "imflow.contrib.django"
    label = "imflow"
    verbose_name = "imflow – Integrationsmanagement"
    default_auto_field = "django.db.models.AutoField"

    def __init__(self, app_name: str, app_module: Any) -> None:
        super().__init__(app_name, app_module)
        self.built: dict[str, Any] = {}  # the store and the service, made on first use
