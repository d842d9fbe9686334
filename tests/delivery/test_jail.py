"""The shared jail: pure path rules, then real paths on disk (symbolic links)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyftpdlib.filesystems import FilesystemError

from kenshin.domain.jail import ROOT, JailPath, plain_name, resolve
from kenshin.entrypoints.ftps_files import JailFS
from kenshin.entrypoints.jail_folder import JailFolder


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("a.csv", ("a.csv",)),
        ("/a.csv", ("a.csv",)),
        ("./a.csv", ("a.csv",)),
        ("//a.csv", ("a.csv",)),
        ("/", ()),
        (".", ()),
        ("", ()),
        ("sub/../a.csv", ("a.csv",)),
        ("/etc/passwd", ("etc", "passwd")),  # absolute paths start at the jail's root
    ],
)
def test_plain_paths_resolve_inside_the_jail(requested: str, expected: tuple[str, ...]) -> None:
    assert resolve(requested) == JailPath(expected)


@pytest.mark.parametrize(
    "requested",
    [
        "..",
        "../C-002/x.csv",
        "/../x.csv",
        "a/../../x.csv",
        "..%2fx.csv",
        "%2e%2e/x.csv",
        "%2E%2E",
        "..\\x.csv",
        "a\\b.csv",
        "\uff0e\uff0e/x.csv",  # fullwidth full stops
        "\u2024\u2024/x.csv",  # one dot leaders
        "a.csv\x00.txt",
        "a\r\nb",
        ".hidden",
        ".a.csv.0a1b2c.tmp",
        "...",
        "C:x.csv",
        "x" * 256,
        "/".join(["a"] * 600),
    ],
)
def test_every_spelling_of_an_escape_resolves_to_nothing(requested: str) -> None:
    assert resolve(requested) is None


def test_relative_paths_start_at_the_working_folder() -> None:
    sub = JailPath(("sub",))
    assert resolve("a.csv", sub) == JailPath(("sub", "a.csv"))
    assert resolve("..", sub) == ROOT
    assert resolve("../..", sub) is None
    assert resolve("/a.csv", sub) == JailPath(("a.csv",))


def test_plain_names() -> None:
    assert plain_name("C-001_20261126.csv")
    assert plain_name("検針_20261126.csv")
    assert not plain_name("")
    assert not plain_name("a/b")
    assert not plain_name("ｆｕｌｌ.csv")  # changes under NFKC  # noqa: RUF001


@pytest.fixture
def jail(tmp_path: Path) -> JailFolder:
    outbox = tmp_path / "outbox"
    (outbox / "A" / "sub").mkdir(parents=True)
    (outbox / "A" / "a.csv").write_bytes(b"a")
    (outbox / "A" / "sub" / "s.csv").write_bytes(b"s")
    (outbox / "A" / ".a.csv.tmp").write_bytes(b"half")
    (outbox / "B").mkdir()
    (outbox / "B" / "b.csv").write_bytes(b"b")
    (tmp_path / "secret").write_bytes(b"secret")
    (outbox / "A" / "inside.csv").symlink_to(outbox / "A" / "a.csv")
    (outbox / "A" / "secret.csv").symlink_to(tmp_path / "secret")
    (outbox / "A" / "b.csv").symlink_to(outbox / "B" / "b.csv")
    (outbox / "A" / "up").symlink_to(outbox)
    (outbox / "A" / "loop").symlink_to(outbox / "A" / "loop")
    (outbox / "A" / "dangling").symlink_to(tmp_path / "missing")
    return JailFolder(outbox / "A")


def test_links_that_point_outside_resolve_to_nothing(jail: JailFolder) -> None:
    assert jail.lookup("inside.csv", ROOT) is not None
    for name in ("secret.csv", "b.csv", "up", "up/B/b.csv", "loop", "dangling", ".a.csv.tmp"):
        assert jail.lookup(name, ROOT) is None, name


def test_listing_shows_only_what_can_be_fetched(jail: JailFolder) -> None:
    listing = jail.listing(ROOT)
    assert listing is not None
    assert [(e.name, e.is_dir, e.size) for e in listing] == [
        ("a.csv", False, 1),
        ("inside.csv", False, 1),
        ("sub", True, listing[2].size),
    ]
    assert jail.listing(JailPath(("a.csv",))) is None


def test_a_missing_customer_folder_is_made_empty(tmp_path: Path) -> None:
    jail = JailFolder(tmp_path / "outbox" / "new")
    assert jail.listing(ROOT) == []
    assert (tmp_path / "outbox" / "new").stat().st_mode & 0o777 == 0o750


def test_revision_comes_from_the_manifest_beside_the_file(tmp_path: Path) -> None:
    jail = JailFolder(tmp_path)
    (tmp_path / "d.csv").write_bytes(b"x")
    assert jail.revision_of(JailPath(("d.csv",))) is None
    (tmp_path / "d.csv.manifest.json").write_bytes(b'{"revision": 3}')
    assert jail.revision_of(JailPath(("d.csv",))) == 3
    assert jail.revision_of(JailPath(("d.csv.manifest.json",))) == 3
    (tmp_path / "d.csv.manifest.json").write_bytes(b"not json")
    assert jail.revision_of(JailPath(("d.csv",))) is None


def test_a_file_swapped_for_a_link_after_its_lookup_is_not_served(
    jail: JailFolder, tmp_path: Path
) -> None:
    found = jail.lookup("a.csv", ROOT)
    assert found is not None
    real = found[1]
    with jail.open_file(real) as file:  # type: ignore[union-attr]
        assert file.read() == b"a"
    real.unlink()
    real.symlink_to(tmp_path / "secret")  # the server's own file, one link
    assert jail.open_file(real) is None


def test_a_folder_swapped_for_a_link_after_its_lookup_serves_nothing(
    jail: JailFolder, tmp_path: Path
) -> None:
    found = jail.lookup("sub/s.csv", ROOT)
    assert found is not None
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "s.csv").write_bytes(b"secret")
    (jail.root / "sub" / "s.csv").unlink()
    (jail.root / "sub").rmdir()
    (jail.root / "sub").symlink_to(outside)
    assert jail.open_file(found[1]) is None


def test_ftps_does_not_open_a_file_swapped_for_a_link_after_listing(
    jail: JailFolder, tmp_path: Path
) -> None:
    files = JailFS(str(jail.root), None)
    assert files.listdir(files.ftp2fs("/")) == sorted(e.name for e in jail.listing(ROOT) or [])
    real = files.ftp2fs("/a.csv")
    (jail.root / "a.csv").unlink()
    (jail.root / "a.csv").symlink_to(tmp_path / "secret")
    with pytest.raises(FilesystemError):
        files.open(real, "rb")
