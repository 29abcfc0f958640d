"""Files of the repository that tests share with the examples and the docs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
WALDSHUT_TOML = EXAMPLES / "waldshut-2025.toml"
"""The district variant of ``examples/district_variant.py``: a ``paused`` phase."""
