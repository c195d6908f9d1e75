"""Base paths named over the network must lie under the start-up roots, links resolved."""

from __future__ import annotations

from kerasforge.serving.server.paths import is_within, outside


def test_paths_under_a_root_after_links_and_dotdot_are_resolved(tmp_path):
    root, elsewhere = tmp_path / "models", tmp_path / "elsewhere"
    (root / "a").mkdir(parents=True)
    elsewhere.mkdir()
    (root / "link").symlink_to(elsewhere, target_is_directory=True)
    assert is_within(root, [root]) and is_within(root / "a" / "1", [root])
    assert is_within(root / "not-yet-there", [root])
    assert not is_within(root / ".." / "elsewhere", [root])
    assert not is_within(root / "link", [root])  # a link out of the root is outside
    assert not is_within(tmp_path / "models-evil", [root])  # a prefix is not a parent
    assert is_within(root / "link", [root, elsewhere])
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    assert is_within(root / "a", [tmp_path / "alias"])  # roots are resolved too
    assert outside([root / "a", elsewhere], [root]) == [str(elsewhere)]
