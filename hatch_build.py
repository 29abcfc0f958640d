"""Build hook: compile the gettext catalogues (``.po``) into the wheel as ``.mo`` files.

The ``.po`` sources are the only copy in git (text, easy to review and to merge); a wheel
carries the compiled ``.mo`` next to them, which imflow reads with the standard library's
format at run time. A source checkout (editable install) has no ``.mo`` and reads the
``.po`` files instead. The build fails when a message lacks its translation.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LOCALE = Path("src/imflow/locale")


def compile_catalogues(root: Path, out: Path) -> dict[Path, str]:
    """Compile every ``<lang>/LC_MESSAGES/<domain>.po`` under *root* into *out*.

    Returns ``{compiled file: its path inside the package}``.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled: dict[Path, str] = {}
    for po in sorted(root.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as handle:
            catalog = read_po(handle)
        missing = [
            m.id
            for m in catalog
            if m.id
            and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
        ]
        if missing:
            raise ValueError(f"{po}: untranslated or fuzzy: {', '.join(map(str, missing[:10]))}")
        relative = po.relative_to(root).with_suffix(".mo")
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            write_mo(handle, catalog)
        compiled[target] = f"imflow/locale/{relative.as_posix()}"
    return compiled


def _translated(text: str | tuple[str, ...] | list[str]) -> bool:
    return all(text) if isinstance(text, tuple | list) else bool(text)


class CompileCatalogues(BuildHookInterface[Any]):
    """Adds the compiled catalogues to a wheel (not to an editable install)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        self._out = Path(tempfile.mkdtemp(prefix="imflow-mo-"))
        compiled = compile_catalogues(Path(self.root) / LOCALE, self._out)
        for source, target in compiled.items():
            build_data["force_include"][str(source)] = target

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        out = getattr(self, "_out", None)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
