"""download.py against a local HTTP server on 127.0.0.1 serving archives built here (never the real server)."""
from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stavis_lib.data import download as dl
from stavis_lib.files import sha256_file


class _Server:
    """Serves ``files`` (name -> bytes) with HTTP Range support (or without, if ``ranges`` is False)."""

    def __init__(self, files: dict[str, bytes], ranges: bool = True):
        self.files = files
        self.ranges = ranges
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                outer.requests.append((name, rng))
                if name not in outer.files:
                    self.send_error(404)
                    return
                body = outer.files[name]
                if rng and outer.ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    part = body[start:]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                    self.send_header("Content-Length", str(len(part)))
                    self.end_headers()
                    self.wfile.write(part)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_with(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ok = tarfile.TarInfo("fine.txt")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"ok"))
        info.size = len(data) if info.isfile() else 0
        tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buf.getvalue()


def test_release_archive_constants_are_data():
    archives = dl.release_archives()
    assert len(archives) == 3 * 6 + 2
    assert all(a.url.startswith("http://cvsp.cs.ntua.gr/research/stavis/data/") and a.url.endswith(".tar.gz")
               for a in archives)
    names = {a.name: a for a in archives}
    assert names["video_frames/DIEM"].url.endswith("/video_frames/DIEM.tar.gz")
    assert names["video_frames/DIEM"].extract_to == "video_frames"
    assert names["pretrained_models"].url == "http://cvsp.cs.ntua.gr/research/stavis/data/pretrained_models.tar.gz"
    assert len(dl.release_archives(["AVAD"], audio=False, pretrained=False)) == 3


def test_sha256_file_matches_the_published_test_vectors(tmp_path):
    """FIPS 180-2 vectors: "abc", and the empty file; a 1-byte chunk reads "abc" in three blocks."""
    abc = tmp_path / "abc"
    abc.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(abc) == expected == sha256_file(abc, chunk=1)
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_download_records_sha256_and_extracts(tmp_path):
    payload = _tar_gz({"fold_lists/X_list_test_1_fps.txt": b"clip1 10 25.000000\n", "fold_lists/README": b"hi"})
    digest = hashlib.sha256(payload).hexdigest()
    with _Server({"fold_lists.tar.gz": payload}) as srv:
        dest = dl.download(f"{srv.url}/fold_lists.tar.gz", tmp_path / "dl" / "fold_lists.tar.gz", sha256=digest,
                           progress=False)
        assert dest.read_bytes() == payload
        assert (tmp_path / "dl" / "fold_lists.tar.gz.sha256").read_text().split()[0] == digest
        # already complete: no second request
        dl.download(f"{srv.url}/fold_lists.tar.gz", dest, progress=False)
        assert len(srv.requests) == 1
    names = dl.extract_archive(dest, tmp_path / "root")
    assert sorted(names) == ["fold_lists/README", "fold_lists/X_list_test_1_fps.txt"]
    assert (tmp_path / "root" / "fold_lists" / "X_list_test_1_fps.txt").read_text() == "clip1 10 25.000000\n"


def test_resume_after_partial_file(tmp_path):
    payload = bytes(range(256)) * 400  # 102400 bytes
    dest = tmp_path / "big.bin"
    (tmp_path / "big.bin.part").write_bytes(payload[:30000])  # an interrupted earlier run
    with _Server({"big.bin": payload}) as srv:
        dl.download(f"{srv.url}/big.bin", dest, sha256=hashlib.sha256(payload).hexdigest(), progress=False)
    assert srv.requests == [("big.bin", "bytes=30000-")]
    assert dest.read_bytes() == payload
    assert not (tmp_path / "big.bin.part").exists()


def test_server_ignoring_range_restarts_cleanly(tmp_path):
    payload = b"abcdefghij" * 1000
    (tmp_path / "f.bin.part").write_bytes(b"XXXX")  # junk prefix that must not survive
    with _Server({"f.bin": payload}, ranges=False) as srv:
        dl.download(f"{srv.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == payload


def test_checksum_mismatch_is_an_error(tmp_path):
    with _Server({"a.tar.gz": b"not what you expected"}) as srv:
        with pytest.raises(dl.DownloadError, match="sha256 mismatch"):
            dl.download(f"{srv.url}/a.tar.gz", tmp_path / "a.tar.gz", sha256="0" * 64, progress=False)
        with pytest.raises(dl.DownloadError, match="404"):
            dl.download(f"{srv.url}/missing.tar.gz", tmp_path / "m.tar.gz", progress=False)
    assert not (tmp_path / "a.tar.gz").exists() and not (tmp_path / "a.tar.gz.part").exists()


def _symlink(name, target):
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def _hardlink(name, target):
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return info


@pytest.mark.parametrize("make", [
    lambda: _tar_with(tarfile.TarInfo("../evil.txt"), b"pwned"),
    lambda: _tar_with(tarfile.TarInfo("sub/../../evil.txt"), b"pwned"),
    lambda: _tar_with(tarfile.TarInfo("/tmp/evil_abs.txt"), b"pwned"),
    lambda: _tar_with(_symlink("link", "/etc")),
    lambda: _tar_with(_symlink("sub/link", "../../outside")),
    lambda: _tar_with(_hardlink("hard", "../outside.txt")),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-abs", "symlink-out", "hardlink-out"])
def test_malicious_tar_is_refused(tmp_path, make):
    archive = tmp_path / "evil.tar"
    archive.write_bytes(make())
    target = tmp_path / "target"
    with pytest.raises(dl.UnsafeArchiveError, match="evil.tar"):
        dl.extract_archive(archive, target)
    assert not (tmp_path / "evil.txt").exists()
    assert list(target.iterdir()) == []  # checked before anything is written


def test_malicious_archive_downloaded_from_server_is_refused(tmp_path):
    payload = _tar_with(tarfile.TarInfo("../escaped.txt"), b"x")
    with _Server({"evil.tar": payload}) as srv:
        path = dl.download(f"{srv.url}/evil.tar", tmp_path / "evil.tar", progress=False)
    with pytest.raises(dl.UnsafeArchiveError, match="escaped.txt"):
        dl.extract_archive(path, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_zip_with_path_escape_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../zipescape.txt", "pwned")
    archive = tmp_path / "evil.zip"
    archive.write_bytes(buf.getvalue())
    with pytest.raises(dl.UnsafeArchiveError, match="zipescape"):
        dl.extract_archive(archive, tmp_path / "t")
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a/b.txt", "fine")
    assert dl.extract_archive(good, tmp_path / "t2") == ["a/b.txt"]
    assert (tmp_path / "t2" / "a" / "b.txt").read_text() == "fine"


def test_fetch_release_from_local_mirror(tmp_path, monkeypatch):
    files = {
        "video_frames/DB.tar.gz": _tar_gz({"DB/v1/img_00001.jpg": b"jpg"}),
        "fold_lists.tar.gz": _tar_gz({"fold_lists/DB_list_test_1_fps.txt": b"v1 1 25.000000\n"}),
    }
    with _Server(files) as srv:
        archives = [dl.ReleaseArchive("video_frames/DB", f"{srv.url}/video_frames/DB.tar.gz", "video_frames"),
                    dl.ReleaseArchive("fold_lists", f"{srv.url}/fold_lists.tar.gz", ".")]
        root = dl.fetch_release(tmp_path / "data", archives, progress=False)
        assert (root / "video_frames" / "DB" / "v1" / "img_00001.jpg").read_bytes() == b"jpg"
        assert (root / "fold_lists" / "DB_list_test_1_fps.txt").is_file()
        n = len(srv.requests)
        dl.fetch_release(tmp_path / "data", archives, progress=False)  # already done: nothing fetched
        assert len(srv.requests) == n
    assert not list(Path(root / ".downloads").glob("*.tar.gz"))
