"""Walking inputs: each file once, loops and problems reported, never an exception."""

from __future__ import annotations

import os
from pathlib import Path

from fakescope.io.sources import InputProblem, iter_inputs


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    for p in ("x.jpg", "a/y.png", "a/b/z.webp", "a/notes.txt"):
        (root / p).write_bytes(b"\xff\xd8")
    return root


def test_walk_is_sorted_lazy_and_skips_non_images(tmp_path: Path):
    root = _tree(tmp_path)
    got = list(iter_inputs([root], recursive=True))
    assert got == [str(root / "x.jpg"), str(root / "a" / "y.png"), str(root / "a" / "b" / "z.webp")]
    assert list(iter_inputs([root])) == [str(root / "x.jpg")]
    it = iter_inputs([root], recursive=True)
    assert next(it) == str(root / "x.jpg")  # a generator: the first path comes before the tree is walked


def test_symlink_loops_are_entered_once_and_reported_once_each(tmp_path: Path):
    root = _tree(tmp_path)
    (root / "a" / "b" / "up").symlink_to("../..", target_is_directory=True)
    (root / "a" / "again").symlink_to("..", target_is_directory=True)
    got = list(iter_inputs([root], recursive=True))
    files = [g for g in got if isinstance(g, str)]
    loops = [g for g in got if isinstance(g, InputProblem)]
    assert len(files) == 3 and len({os.path.realpath(f) for f in files}) == 3
    assert len(loops) == 2 and all("loop" in p.message for p in loops)
    # the same folder given twice, or through a link: once
    (tmp_path / "link").symlink_to(root, target_is_directory=True)
    got = list(iter_inputs([root, tmp_path / "link"], recursive=True))
    assert len([g for g in got if isinstance(g, str)]) == 3


def test_a_file_reached_by_two_paths_is_yielded_once(tmp_path: Path):
    root = _tree(tmp_path)
    (root / "a" / "x-again.jpg").symlink_to(root / "x.jpg")
    files = [g for g in iter_inputs([root], recursive=True) if isinstance(g, str)]
    assert len(files) == 3
    assert [g for g in iter_inputs([root / "x.jpg", root / "x.jpg"])] == [str(root / "x.jpg")]


def test_missing_paths_and_dangling_links_are_problems_not_exceptions(tmp_path: Path):
    root = _tree(tmp_path)
    (root / "dead.jpg").symlink_to(tmp_path / "gone.jpg")
    got = list(iter_inputs([tmp_path / "nope.jpg", root, root / "dead.jpg"]))
    assert isinstance(got[0], InputProblem) and "no such file or folder" in got[0].message
    assert str(root / "x.jpg") in got
    dangling = [g for g in got if isinstance(g, InputProblem) and "dangling" in g.message]
    assert len(dangling) == 2  # once found in the folder, once given by name
