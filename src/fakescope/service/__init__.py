"""fakescope as a service: REST API, results database, API keys, the web page (``fakescope serve``).

Needs the ``serve`` extra (``pip install 'fakescope[serve]'``).  Importing this package is cheap and
works without it (the CLI builds its ``serve`` options from here); :func:`require` and every entry
point that needs the extra raise :class:`~fakescope.errors.MissingDependencyError` naming it.

>>> from fakescope.service import Settings
>>> Settings(db_url="sqlite:///x.db", auth=False).auth
False
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import MissingDependencyError

__all__ = ["Settings", "Store", "create_app", "default_db_url", "require"]

_NEEDS = (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("sqlalchemy", "sqlalchemy"), ("alembic", "alembic"),
          ("python-multipart", "python_multipart"))
_LAZY = {"Settings": "settings", "default_db_url": "settings", "Store": "store"}


def require() -> None:
    """Raise :class:`MissingDependencyError` unless the ``serve`` extra is installed."""
    for pkg, mod in _NEEDS:
        try:
            importlib.import_module(mod)
        except ImportError as e:
            if mod == "python_multipart":  # older releases are imported as 'multipart'
                try:
                    importlib.import_module("multipart")
                    continue
                except ImportError:
                    pass
            raise MissingDependencyError(pkg, "serve", "fakescope serve") from e


def create_app(settings: Any = None, **kw: Any):  # noqa: ANN201
    """The FastAPI application (see :func:`fakescope.service.app.create_app`)."""
    require()
    from .app import create_app as _create

    return _create(settings, **kw)


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'fakescope.service' has no attribute {name!r}")
    if name == "Store":
        require()
    return getattr(importlib.import_module(f".{mod}", __name__), name)
