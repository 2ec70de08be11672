"""A model directory as a .tar.gz byte stream, produced piece by piece.

`tarfile` writes whole files in one call, so a streamed download through it would hold a
multi-gigabyte weights file in memory; here tarfile only makes the headers, and file contents go
through zlib a megabyte at a time.
"""

import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from django.http import Http404, StreamingHttpResponse

from training.storage import StorageMissing, artifact_directory

BLOCK = tarfile.BLOCKSIZE
CHUNK = 1 << 20


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _file_chunks(path: Path, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes (the header promised them), then padding to a whole block."""
    sent = 0
    with path.open("rb") as handle:
        while sent < size:
            chunk = handle.read(min(CHUNK, size - sent))
            if not chunk:
                break
            sent += len(chunk)
            yield chunk
    if sent < size:  # the file shrank while being read: keep the archive well-formed
        yield bytes(size - sent)
    if size % BLOCK:
        yield bytes(BLOCK - size % BLOCK)


def _tar_chunks(directory: Path, root_name: str) -> Iterator[bytes]:
    root = tarfile.TarInfo(root_name)
    root.type, root.mode, root.mtime = tarfile.DIRTYPE, 0o755, int(directory.stat().st_mtime)
    yield _header(root)
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            continue  # never follow a link out of the model directory
        info = tarfile.TarInfo(f"{root_name}/{path.relative_to(directory).as_posix()}")
        stat = path.stat()
        info.mtime = int(stat.st_mtime)
        if path.is_dir():
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            yield _header(info)
        elif path.is_file():
            info.size, info.mode = stat.st_size, 0o644
            yield _header(info)
            yield from _file_chunks(path, stat.st_size)
    yield bytes(2 * BLOCK)  # end-of-archive marker


def tar_gz_stream(directory: Path, *, root_name: str) -> Iterator[bytes]:
    """The gzip-compressed tar of `directory`, its entries under `root_name/`."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    for piece in _tar_chunks(directory, root_name):
        compressed = compressor.compress(piece)
        if compressed:
            yield compressed
    yield compressor.flush()


def artifact_download_response(*, path: str, name: str) -> StreamingHttpResponse:
    """The model directory at `path` (fetched from the shared store if it is not on this
    machine) streamed as `name`.tar.gz: the page's and the API's download."""
    try:
        directory = artifact_directory(path)
    except StorageMissing:
        raise Http404("The artifact's directory is gone") from None
    response = StreamingHttpResponse(
        tar_gz_stream(directory, root_name=name), content_type="application/gzip"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.tar.gz"'
    return response
