"""Uploads imported in the background: the files are saved, then one worker thread reads,
masks, stores and analyzes them with the same `Batch` the CLI uses, recording progress and each
file's errors in `import_jobs` for the upload page to poll."""

from __future__ import annotations

import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePath
from typing import BinaryIO

from zuoxi.engines.local import Batch
from zuoxi.ingest import EXTENSIONS, IngestError, detect_format
from zuoxi.privacy import mask_text
from zuoxi.store import Store, utc_now
from zuoxi.store.jobs import create_import_job, update_import_job
from zuoxi.store.users import without_hidden

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def safe_name(name: str | None, taken: set[str]) -> str:
    """A file name for an upload that cannot leave the job's folder or break the file system: the
    last path part, without control or separator characters, leading dots or spaces, at most 80
    characters (the suffix, which tells the reader the format, kept), unique within the job. Bidi controls,
    zero-width and other invisible characters are dropped: the name becomes the ids of conversations without
    their own (U+202E then `gpj.txt` would show as `txt.jpg`, its conversation's id as `1-jpg` on every page)."""
    last = PurePath((name or "").replace("\\", "/")).name
    base = PurePath(without_hidden(_UNSAFE.sub("_", last)).strip().lstrip(".") or "upload")
    suffix = base.suffix[:10]
    stem = base.stem.strip()[: 80 - len(suffix)] or "upload"
    candidate, n = stem + suffix, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(candidate)
    return candidate


def unsupported(name: str) -> str | None:
    """Why an uploaded file (by its safe name) cannot be read, in Chinese, or None: a type no reader takes (the
    reader's own "unknown format … pass --format" speaks to the command line)."""
    if detect_format(Path(name)) is not None:
        return None
    kind = PurePath(name).suffix.lower() or "（无扩展名）"
    return f"{name}：不支持的文件类型 {kind}，未导入。可上传：{'、'.join(sorted(EXTENSIONS))}"


class Importer:
    def __init__(self, store: Store, models: bool = True, recordings: Path | None = None):
        """`recordings`: the only folder whose recordings an uploaded conversation may have read (none
        without it): an upload's `audio` must not open any file of the server."""
        self.store = store
        self.models = models
        self.recordings = recordings
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zuoxi-import")

    def submit(self, user_id: int | None, files: list[tuple[str | None, BinaryIO]]) -> int:
        """Copy the uploaded files (name, open file) into a folder of the job's own and queue their
        import; returns the job id."""
        folder = Path(tempfile.mkdtemp(prefix="zuoxi-upload-"))
        paths: list[Path] = []
        refused: list[str] = []  # a file of a type no reader takes is said so, and the others are imported
        taken: set[str] = set()
        for name, data in files:
            path = folder / safe_name(name, taken)
            if why := unsupported(path.name):
                refused.append(mask_text(why))
                continue
            with path.open("wb") as out:
                shutil.copyfileobj(data, out)
            paths.append(path)
        job_id = create_import_job(self.store.engine, user_id, len(files))
        self.pool.submit(self._run, job_id, folder, paths, refused)
        return job_id

    def _update(self, job_id: int, **values) -> None:
        update_import_job(self.store.engine, job_id, **values)

    def _run(self, job_id: int, folder: Path, paths: list[Path], refused: list[str]) -> None:
        errors: list[str] = list(refused)

        def on_error(error: IngestError) -> None:
            said = mask_text(str(error).replace(str(folder) + "/", ""))  # an upload's name may hold a number
            errors.append(f"注意：{said}" if error.note else said)  # a note: nothing of the file was left out

        def on_progress(done: int, files: int, conversations: int) -> None:
            self._update(job_id, files_done=done + len(refused), conversations=conversations, errors=list(errors))

        self._update(job_id, status="running")
        try:
            batch = Batch(
                paths,
                store=self.store,
                analyze=True,
                models=self.models,
                resume=False,
                audio=self.recordings or False,
                on_error=on_error,
                on_progress=on_progress,
                names={path: path.name for path in paths},  # the name uploaded, not the folder it was copied to
            )
            for _ in batch.run():
                pass
            self._update(
                job_id,
                status="done",
                files_done=len(paths) + len(refused),
                conversations=batch.summary.read,
                errors=list(errors),
                finished_at=utc_now(),
            )
        except Exception as error:  # noqa: BLE001 - the page must show any failure; the server must keep running
            self._update(
                job_id, status="failed", errors=[*errors, f"{type(error).__name__}: {error}"], finished_at=utc_now()
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)
