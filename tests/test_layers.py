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
