from __future__ import annotations

import pytest

from fakescope._registry import Registry
from fakescope.errors import FakescopeError, UnknownNameError


def test_register_get_and_names():
    r: Registry[int] = Registry("thing")

    @r.register("b-two")
    def _two() -> int:
        return 2

    @r.register("a-one")
    def _one() -> int:
        return 1

    assert r.names() == ["a-one", "b-two"]
    assert r.names("b-*") == ["b-two"]
    assert r.get("a-one")() == 1
    assert "a-one" in r and "zzz" not in r and len(r) == 2


def test_unknown_name_lists_valid_ones():
    r: Registry[int] = Registry("detector")
    r.register("npr")(lambda: 1)
    with pytest.raises(UnknownNameError) as e:
        r.get("nrp")
    assert "unknown detector 'nrp'" in str(e.value) and "npr" in str(e.value)
    assert isinstance(e.value, FakescopeError) and isinstance(e.value, KeyError)


def test_duplicate_registration_is_refused():
    r: Registry[int] = Registry("thing")
    r.register("x")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        r.register("x")(lambda: 2)
