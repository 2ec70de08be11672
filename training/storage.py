"""Snapshots, run directories and artifacts on a store shared by machines (S3-compatible, or any
fsspec URL), beside the local data directory.

`PREFAPP_STORAGE_URL` empty (the default): everything stays in `PREFAPP_DATA_DIR`, which all
processes share (one machine, or a network volume). Set to `s3://bucket/prefix` (with
`PREFAPP_STORAGE_ENDPOINT_URL` for a store other than AWS, and the usual `AWS_ACCESS_KEY_ID` /
`AWS_SECRET_ACCESS_KEY`), each machine keeps a local copy under its own data directory and the
store holds the shared one, at the same relative path (`snapshots/<id>`, `runs/<id>`,
`artifacts/run-<id>`):
- whoever writes a directory uploads it (`publish`): every file, then an empty `.complete`
  object last. A directory is visible on the store only once `.complete` exists, so a reader
  never takes half an upload for a whole one (an object store has no atomic rename);
- whoever reads one makes sure of a local copy first (`local_copy`): present, or downloaded
  into a temporary sibling and renamed into place once complete.
The training child never sees the store: it reads and writes local directories only.
"""

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

COMPLETE = ".complete"


class StorageMissing(LookupError):
    """The directory is neither here nor complete on the store."""


def _store() -> tuple[Any, str] | None:
    """(fsspec filesystem, root path on it), or None when the data directory is all there is."""
    url = getattr(settings, "PREFAPP_STORAGE_URL", "")
    if not url:
        return None
    import fsspec

    options: dict[str, Any] = {}
    endpoint = getattr(settings, "PREFAPP_STORAGE_ENDPOINT_URL", "")
    if endpoint:
        options["endpoint_url"] = endpoint
    filesystem, root = fsspec.core.url_to_fs(url, **options)
    return filesystem, root.rstrip("/")


def _relative(local: Path) -> str:
    return Path(local).resolve().relative_to(Path(settings.PREFAPP_DATA_DIR).resolve()).as_posix()


def publish(local: Path) -> None:
    """Upload a finished directory of the data directory to the store, `.complete` last."""
    store = _store()
    if store is None:
        return
    filesystem, root = store
    remote = f"{root}/{_relative(local)}"
    files = sorted(p for p in Path(local).rglob("*") if p.is_file())
    for path in files:
        filesystem.put_file(str(path), f"{remote}/{path.relative_to(local).as_posix()}")
    filesystem.pipe_file(f"{remote}/{COMPLETE}", b"")
    logger.info("published %s (%d files)", remote, len(files))


def is_published(local: Path) -> bool:
    store = _store()
    if store is None:
        return False
    filesystem, root = store
    return bool(filesystem.exists(f"{root}/{_relative(local)}/{COMPLETE}"))


def local_copy(local: Path) -> Path:
    """`local`, downloaded from the store first when this machine lacks it. Raises
    StorageMissing when it is neither here nor complete on the store."""
    local = Path(local)
    if local.is_dir():
        return local
    store = _store()
    if store is None or not is_published(local):
        raise StorageMissing(f"{local} is not here and not on the store")
    filesystem, root = store
    remote = f"{root}/{_relative(local)}"
    local.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{local.name}-", dir=local.parent))
    try:
        for path in filesystem.find(remote):
            name = path[len(remote) :].lstrip("/")
            if name == COMPLETE:
                continue
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            filesystem.get_file(path, str(target))
        try:
            staging.rename(local)
        except OSError:  # another process of this machine downloaded it meanwhile
            if not local.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return local


def artifact_directory(path: str) -> Path:
    """Where an artifact lives on this machine: `artifacts/<name>` of this data directory (the
    path stored with it is the worker's), downloaded from the store when missing here."""
    mine = Path(settings.PREFAPP_DATA_DIR) / "artifacts" / Path(path).name
    if Path(path).is_dir() and _store() is None:
        return Path(path)
    return local_copy(mine)
