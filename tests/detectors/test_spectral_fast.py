"""The vectorised spectral features equal the original implementation's.

``REFERENCE`` holds feature vectors computed by the original (per-tile loops, ``np.pad``,
``np.median``, float32 ``matmul``) implementation of :mod:`fakescope.detectors.spectral`
before it was vectorised, frozen here as literals.  That implementation took the spectrum in
float64; the current one takes it in float32 (half the time), so the spectrum features agree
to single-precision rounding (a few 1e-5 absolute on white noise, the worst case); the three
channel correlations and the chroma ratio may differ by the float32 rounding of the old
``matmul`` (the new sums are exact), well under 1e-6 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.detectors import spectral
from fakescope.detectors.spectral import FEATURE_NAMES, spectral_features, tile_features

_COLOUR = [FEATURE_NAMES.index(k) for k in ("corr_rg", "corr_gb", "corr_rb", "log_chroma_ratio")]
_SPECTRUM = [i for i in range(len(FEATURE_NAMES)) if i not in _COLOUR]


def _hash(h: int, w: int, salt: int) -> np.ndarray:
    """Deterministic pseudo-random ``h×w×3`` uint8 (integer arithmetic: the same on every numpy)."""
    yy, xx = np.mgrid[:h, :w].astype(np.uint64)
    cc = np.arange(3, dtype=np.uint64)
    v = (xx[..., None] * np.uint64(1103515245) + yy[..., None] * np.uint64(12345) + cc * np.uint64(2654435761)
         + np.uint64(salt) * np.uint64(97531)) % np.uint64(2**32)
    v = (v * np.uint64(2654435761)) % np.uint64(2**32)
    return ((v >> np.uint64(13)) & np.uint64(255)).astype(np.uint8)


def _inputs() -> dict[str, np.ndarray]:
    """Images (H×W×3) and tile stacks (n×h×w×3) the references were computed from."""
    yy, xx = np.mgrid[:300, :200]
    smooth = np.stack([(yy * 0.6 + xx * 0.3) % 256, (xx * 1.1) % 256, (yy * 0.4 + 60) % 256], axis=-1)
    up2 = _hash(150, 100, 2).repeat(2, axis=0).repeat(2, axis=1)  # nearest ×2 up-sampling
    return {
        "noise_256x512": _hash(256, 512, 1),  # 8 tiles of 128, white noise (float32 sums inexact)
        "upsampled_300x200": (0.8 * smooth + 0.2 * up2).astype(np.uint8),  # 2 tiles of 128
        "small_40x56": _hash(40, 56, 3),  # one non-square 40×56 tile
        "tiles_3x48x80": _hash(3 * 48, 80, 4).reshape(3, 48, 80, 3),
        "tiles_2x24x272": _hash(48, 272, 5).reshape(2, 24, 272, 3),  # rows too long for the float32 path
    }


def _features(name: str, x: np.ndarray) -> np.ndarray:
    return tile_features(x) if name.startswith("tiles_") else spectral_features(x)


REFERENCE: dict[str, np.ndarray] = {
    "noise_256x512": np.array([
        -3.3378448726345984, -1.6927984238705407, -0.9105537166171253, -0.18812611902921855,
        0.17026404589391203, 0.38383914869665386, 0.7180631417144889, 0.7678430902592607, 0.8931744035934455,
        1.0647997549273935, 1.0966569709065905, 1.034682576159737, 0.9789466892972114, 3.3139177400328013,
        0.3325334882571848, -0.6306513923101693, 1.2819304315510578, 0.6975980858173763, 1.138379982782327,
        1.244324530533392, -0.21156457978407955, -0.2114917910865668, -0.29330238127802816,
        0.6760027227220731, 7.0,
    ]),
    "upsampled_300x200": np.array([
        -2.9948666358165035, -1.1935651305262283, -0.3719590411296698, 0.16296641273154155,
        0.5692046687466199, 0.6493805478297201, 0.7677470114615148, 0.8328035370700191, 0.7380914933375538,
        0.6388851379369607, 0.38403458976341454, -0.1827225914049433, -0.9628574572961731,
        2.6470543704198453, 0.1803048103543102, 0.6532461894552506, 0.29250324547416706, 0.21048239805953622,
        0.7531462060180284, 0.9977725640193822, -0.2111476396373613, -0.20992656418728242,
        -0.2930903735896738, 0.6745220451366021, 7.0,
    ]),
    "small_40x56": np.array([
        -3.0176638913478526, -2.1071385465282066, -0.9339726886497837, -0.19092124352120488,
        0.11337705821655053, 0.29092177478041137, 0.8824029806632638, 0.721513641448905, 0.8515667255999841,
        1.300011097201288, 1.1087437777594098, 0.9811593143772348, 0.9824817988907797, 3.1671246926838124,
        0.21358474861824295, 0.07738771806850053, 0.6652172384628027, 1.2853931409990895, 0.8475823919508095,
        1.3913327759333887, -0.2155816307760841, -0.20994527281585193, -0.29372653910897795,
        0.6779847925449026, 5.321928094887363,
    ]),
    "tiles_3x48x80": np.array([
    [
            -3.1010279618084127, -2.007972599557848, -1.0556699138821495, -0.16629520344877458,
            0.21017012001171453, 0.3252905733947786, 0.8446505400143689, 0.7443709341852216, 0.8895634786541775,
            1.213124663721663, 1.1202788903434184, 0.9835164783718442, 1.017598434777093, 3.25477979496131,
            0.13765557376651172, 0.7306899587340139, 0.7063739976647097, 1.1368002184769317, 0.7708905500908427,
            1.3752909429673386, -0.21009559378818013, -0.2184050510125689, -0.2930953654560045,
            0.679520041765843, 5.584962500721156,
        ],
    [
            -3.446181688909508, -1.9206157721210464, -1.0197218207762422, -0.15140153998686623,
            0.21382750541765327, 0.4011119734899138, 0.8107952210026537, 0.804680251447984, 0.9142096381170437,
            1.2237258335896306, 1.1433509947597646, 1.0262194039690216, 1.037178449453822, 3.2834320841307396,
            0.1820229458216156, 0.6380410243610504, 0.6933732837392853, 1.094813709908741, 0.7455614336656209,
            1.3287756598650968, -0.21685570152238004, -0.20757620543335895, -0.2926664536783078,
            0.6764464414654492, 5.584962500721156,
        ],
    [
            -3.3291755370134637, -1.96714294081495, -1.116387683324683, -0.12363416328420573, 0.1672723844058268,
            0.37705977197681007, 0.818424382834992, 0.8241518823299265, 0.9282167080056394, 1.2422443247368302,
            1.1512422081595965, 1.0277286619876747, 1.0294528565129393, 3.235430516383967, 0.060603831057481905,
            0.5484534844632991, 0.7285445237510128, 1.1566184759340825, 0.7979925050999318, 1.31825245391548,
            -0.21184728234191966, -0.2085931531005981, -0.2935536728505831, 0.6744534651142112,
            5.584962500721156,
        ]
    ]),
    "tiles_2x24x272": np.array([
    [
            -2.713870982165789, -1.746224017474677, -0.9575356296687985, -0.2887789853835243,
            0.05032089938491335, 0.41842374953295813, 0.625759044115545, 0.7432312671787753, 0.911766057406044,
            0.9964417834317687, 0.9499200674153676, 1.0105467462274134, 0.9174420576492417, 3.4492376793383595,
            0.3792890595392948, 0.8693337171960831, 0.4960135544808595, 0.860120747051185, 0.7110648676621516,
            1.128617316816635, -0.21293240168664893, -0.21087451581551342, -0.29302884631362885,
            0.6762944705421955, 4.584962500721156,
        ],
    [
            -2.5320684287768125, -1.8326128426598793, -0.9232482213986444, -0.3060281105329543,
            0.060016553210525014, 0.37307444504891185, 0.6301384927979199, 0.6995652502428995, 0.907642296103131,
            0.9807363094140675, 0.9449286395095702, 0.9978556170412642, 0.9341134067787915, 3.380104133267517,
            0.32326963805755016, 0.8063610446438778, 0.5298699706878854, 0.9138613596397577, 0.7204226841758796,
            1.1534859021697446, -0.21233608429706058, -0.21074484787179387, -0.29316687826630683,
            0.6759307718823248, 4.584962500721156,
        ]
    ]),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_features_match_the_original_implementation(name):
    got = _features(name, _inputs()[name])
    ref = REFERENCE[name]
    assert got.shape == ref.shape and got.dtype == np.float64
    np.testing.assert_allclose(got[..., _COLOUR], ref[..., _COLOUR], rtol=1e-6, atol=0)
    np.testing.assert_allclose(got[..., _SPECTRUM], ref[..., _SPECTRUM], rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_numpy_fft_fallback_gives_the_same_features(name, monkeypatch):
    """Without scipy the features come from numpy.fft.rfft2 (float32 as well): the same to
    single-precision rounding."""
    x = _inputs()[name]
    with_default = _features(name, x)
    monkeypatch.setattr(spectral, "_rfft2", np.fft.rfft2)
    got = _features(name, x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, with_default, rtol=0, atol=1e-4)


def test_colour_sums_are_exact():
    """The channel Gram matrix of the horizontal differences equals the int64 one."""
    tiles = _inputs()["noise_256x512"][:128, :256].reshape(128, 2, 128, 3).transpose(1, 0, 2, 3)
    d = np.diff(tiles.astype(np.int64), axis=2).transpose(0, 3, 1, 2).reshape(2, 3, -1)
    n = d.shape[2]
    cov = np.einsum("ncp,ndp->ncd", d, d) - d.sum(axis=2)[:, :, None] * d.sum(axis=2)[:, None, :] / n
    corr = cov[:, 0, 1] / np.sqrt(cov[:, 0, 0] * cov[:, 1, 1])
    got = tile_features(np.ascontiguousarray(tiles))[:, FEATURE_NAMES.index("corr_rg")]
    np.testing.assert_allclose(got, corr, rtol=1e-13)


def test_planar_path_equals_tile_path():
    img = _inputs()["upsampled_300x200"]
    from fakescope.detectors.base import grid_tiles

    tiles = np.stack(grid_tiles(img, 128, 8, align=8))
    np.testing.assert_array_equal(spectral_features(img), tile_features(tiles).mean(axis=0))
