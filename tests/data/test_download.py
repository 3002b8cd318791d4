"""Downloads against a real HTTP server on 127.0.0.1 (started here): success, checksum mismatch,
resume after an interrupted transfer, and archives whose members escape the target folder."""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from srlab.data.download import (
    DownloadError,
    RemoteArchive,
    UnsafeArchiveError,
    download,
    fetch,
    safe_extract,
)
from tests.conftest import write_images


class _Server:
    """Serves ``files`` (name -> bytes) with HTTP Range support.

    ``cut_after[name] = n`` makes the next full (non-Range) response of ``name`` announce the full
    Content-Length but close the connection after ``n`` bytes — an interrupted transfer.
    ``ignore_range`` answers every request with the whole file (200), as some servers do.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and not server.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cut_after.pop(name, None) if start == 0 else None
                self.wfile.write(body[:cut] if cut is not None else body)
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _zip_of_images(tmp_path: Path, folder: str, count: int = 3) -> bytes:
    src = tmp_path / "zipsrc" / folder
    write_images(src, count, size=(20, 24), seed=5)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(src.iterdir()):
            zf.write(p, f"{folder}/{p.name}")
    return buf.getvalue()


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def test_fetch_downloads_verifies_and_extracts(tmp_path, server):
    data = _zip_of_images(tmp_path, "Images")
    server.files["images.zip"] = data
    root = tmp_path / "root"
    archive = RemoteArchive(server.url + "images.zip", size=len(data), checksum=_md5(data))
    written = fetch(archive, root, progress=False)
    assert written == [root / "Images"]
    assert sorted(p.name for p in (root / "Images").iterdir()) == [
        "img_000.png",
        "img_001.png",
        "img_002.png",
    ]
    # The archive is removed after extraction; no temporary or partial files remain.
    assert sorted(p.name for p in root.iterdir()) == ["Images"]


def test_checksum_mismatch_is_a_clear_error_and_leaves_nothing_in_the_data_root(tmp_path, server):
    data = _zip_of_images(tmp_path, "Images")
    server.files["images.zip"] = data
    root = tmp_path / "root"
    archive = RemoteArchive(server.url + "images.zip", checksum="md5:" + "0" * 32)
    with pytest.raises(DownloadError, match=r"images\.zip.*corrupt.*md5.*expected 0{32}"):
        fetch(archive, root, progress=False)
    leftovers = [p for p in root.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers
    # A wrong size is caught the same way (before the checksum is even computed).
    with pytest.raises(DownloadError, match="size"):
        fetch(RemoteArchive(server.url + "images.zip", size=len(data) + 1), root, progress=False)
    assert not (root / "Images").exists()


def test_interrupted_transfer_resumes_with_a_range_request(tmp_path, server):
    data = _zip_of_images(tmp_path, "Images", count=4)
    server.files["images.zip"] = data
    half = len(data) // 2
    server.cut_after["images.zip"] = half
    archive = RemoteArchive(server.url + "images.zip", size=len(data), checksum=_md5(data))
    downloads = tmp_path / "dl"

    # First attempt: the connection drops halfway; no retries, so the .part is kept.
    with pytest.raises(DownloadError, match="kept in"):
        download(archive, downloads, retries=0, progress=False)
    part = downloads / "images.zip.part"
    assert part.stat().st_size == half
    assert not (downloads / "images.zip").exists()

    # Second call resumes from the partial file.
    path = download(archive, downloads, retries=0, progress=False)
    assert path == downloads / "images.zip" and path.read_bytes() == data
    assert server.requests[-1] == ("images.zip", f"bytes={half}-")
    assert not part.exists()

    # Within one call, retries resume transparently.
    server.cut_after["images.zip"] = 100
    path.unlink()
    assert download(archive, downloads, retries=2, progress=False).read_bytes() == data
    assert server.requests[-1] == ("images.zip", "bytes=100-")


def test_server_ignoring_range_restarts_from_zero(tmp_path, server):
    data = _zip_of_images(tmp_path, "Images")
    server.files["images.zip"] = data
    server.ignore_range = True
    downloads = tmp_path / "dl"
    downloads.mkdir()
    (downloads / "images.zip.part").write_bytes(data[:50])
    archive = RemoteArchive(server.url + "images.zip", size=len(data), checksum=_md5(data))
    assert download(archive, downloads, progress=False).read_bytes() == data


def test_missing_url_fails_without_retrying(tmp_path, server):
    with pytest.raises(DownloadError, match="404"):
        download(RemoteArchive(server.url + "nope.zip"), tmp_path, retries=5, progress=False)
    assert len(server.requests) == 1


def _evil_zip(path: Path, name: str, symlink: bool = False) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("good/ok.txt", "fine")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "../../outside.txt")
        else:
            zf.writestr(info, "evil")


@pytest.mark.parametrize(
    "member, symlink",
    [
        ("../x.txt", False),
        ("good/../../x.txt", False),
        ("/tmp/srlab_evil_abs.txt", False),
        ("C:/evil.txt", False),
        ("link", True),
    ],
)
def test_zip_members_escaping_the_target_are_refused(tmp_path, member, symlink):
    archive = tmp_path / "evil.zip"
    _evil_zip(archive, member, symlink)
    dest = tmp_path / "a" / "dest"
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []  # nothing extracted, not even the safe member
    assert not (tmp_path / "a" / "x.txt").exists() and not (tmp_path / "x.txt").exists()
    assert not Path("/tmp/srlab_evil_abs.txt").exists()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink"])
def test_tar_members_escaping_the_target_are_refused(tmp_path, kind):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tf:
        ok = tarfile.TarInfo("good/ok.txt")
        ok.size = 4
        tf.addfile(ok, io.BytesIO(b"fine"))
        info = tarfile.TarInfo(
            {"dotdot": "../x.txt", "absolute": "/tmp/srlab_evil_abs.txt"}.get(kind, "link")
        )
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "../../x.txt"
            tf.addfile(info)
        elif kind == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "/etc/passwd"
            tf.addfile(info)
        else:
            info.size = 4
            tf.addfile(info, io.BytesIO(b"evil"))
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "x.txt").exists()


def test_div2k_download_through_the_source(tmp_path, server, monkeypatch):
    """``DIV2K(download=True)`` fetches a missing split when prepared, then lists its images."""
    from srlab.data import sources

    data = _zip_of_images(tmp_path, "DIV2K_valid_HR", count=2)
    server.files["DIV2K_valid_HR.zip"] = data
    monkeypatch.setitem(
        sources.DIV2K_ARCHIVES,
        "valid",
        RemoteArchive(server.url + "DIV2K_valid_HR.zip", size=len(data), checksum=_md5(data)),
    )
    root = tmp_path / "data"
    src = sources.DIV2K(root, "valid", download=True)
    assert not (root / "DIV2K").exists()  # construction does not download: prepare_data does
    assert len(src) == 2  # first use prepares
    assert src.file(0) == root / "DIV2K" / "DIV2K_valid_HR" / "img_000.png"
    assert src.load(1).shape == (3, 20, 24)
    assert not (root / ".downloads").exists()
    # A mirror is the same archive at another base URL, checked against the same checksum.
    monkeypatch.setitem(
        sources.DIV2K_ARCHIVES,
        "train",
        RemoteArchive(
            "https://invalid.example/DIV2K_train_HR.zip", size=len(data), checksum=_md5(data)
        ),
    )
    server.files["DIV2K_train_HR.zip"] = data
    # (The served "train" archive holds DIV2K_valid_HR/, so after extracting it there is no train folder.)
    with pytest.raises(Exception, match="no PNG images"):
        sources.DIV2K(root, "train", download=True, mirror=server.url).prepare()
    assert server.requests[-1] == ("DIV2K_train_HR.zip", None)
