"""The example host's URLs: Django's admin (with imflow's read-only case histories)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
