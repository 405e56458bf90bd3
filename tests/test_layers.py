"""Layering: the detectors, the training code and io sit below the fusion (which only loads fitted artefacts)."""

from __future__ import annotations

import subprocess
import sys


def test_detectors_training_and_io_do_not_import_the_fusion():
    code = ("import sys, fakescope.detectors as d, fakescope.training.evaluate, fakescope.training.calibrate, "
            "fakescope.training.pipeline, fakescope.io.decode, fakescope.io.splits; d._load_builtin(); "
            "bad = [m for m in ('fakescope.fusion', 'fakescope.pipeline') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    code = "import sys, fakescope.io.decode, fakescope.io.splits, fakescope.io.datasets; " \
           "print([m for m in sys.modules if m.startswith('fakescope.training')])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_one_logistic_fitter_and_one_regime_rule():
    import fakescope.fusion as fusion
    from fakescope import fitting, regimes

    assert fusion.fit_logistic is fitting.fit_logistic
    assert fusion.regime_of is regimes.regime_of and fusion.THUMBNAIL_MAX_SIDE == regimes.THUMBNAIL_MAX_SIDE


def test_library_code_does_not_import_the_build():
    """The build (``fakescope.build``) makes weights from the library; the library never reaches up into it.
    The known exceptions are listed (moving them changes the ``splits`` step's inputs, whose rebuild would
    restale every step scored by them): none may be added."""
    import ast
    from pathlib import Path

    import fakescope

    root = Path(fakescope.__file__).parent
    known = {("training/data.py", "build"),
             ("attacks/autoencoders.py", "build.generators")}
    found = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("build/") or rel == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if node.level and mod.split(".")[0] == "build":
                    found.add((rel, mod))
                elif mod.startswith("fakescope.build"):
                    found.add((rel, mod[len("fakescope."):]))
            elif isinstance(node, ast.Import):
                found |= {(rel, a.name[len("fakescope."):]) for a in node.names if a.name.startswith("fakescope.build")}
    assert found <= known, sorted(found - known)
    assert not any(rel.startswith("localization/") for rel, _ in found)
