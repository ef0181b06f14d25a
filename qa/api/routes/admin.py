"""Rebuild the index and upload documents (admin token required); GET /index/status shows progress."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, UploadFile, status
from fastapi.responses import JSONResponse

from qa.api.deps import AdminDep, ManagerDep, SettingsDep
from qa.api.schemas import ErrorOut, RebuildStatusOut, UploadOut
from qa.ingest.corpus import read_export
from qa.text import CJK_CHARS

router = APIRouter(tags=["admin"])

MAX_FILES = 20
UPLOAD_BODY_LIMIT = 5 * 1024 * 1024  # bytes, all files of one upload together
_NAME = re.compile(rf"^[\w{CJK_CHARS}][\w{CJK_CHARS}.\- ]{{0,120}}\.(txt|jsonl)$")
ADMIN_ERRORS = {
    401: {"model": ErrorOut, "description": "No admin token was sent."},
    403: {"model": ErrorOut, "description": "The admin token is wrong, or admin endpoints are disabled."},
    409: {"model": ErrorOut, "description": "A rebuild is already running."},
}


def _busy() -> HTTPException:
    """The refusal when a rebuild is already running."""
    return HTTPException(
        status.HTTP_409_CONFLICT, detail="A rebuild is already running; follow it at GET /index/status."
    )


@router.get("/index/status", response_model=RebuildStatusOut, summary="Progress of the latest (re)build")
def index_status(manager: ManagerDep) -> RebuildStatusOut:
    """idle, running (with its phase and elapsed seconds), succeeded (with the build summary) or failed."""
    return manager.status()


@router.post(
    "/index/rebuild",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RebuildStatusOut,
    responses=ADMIN_ERRORS,
    dependencies=[AdminDep],
    summary="Rebuild the index in the background",
)
def rebuild(manager: ManagerDep) -> RebuildStatusOut:
    """Start an incremental rebuild; the old index keeps answering until the new one is swapped in."""
    if not manager.start("rebuild", build=True):
        raise _busy()
    return manager.status()


def _check_upload(name: str, data: bytes) -> str:
    """The file's text, or an HTTPException saying in plain words why it cannot join the corpus."""
    if not _NAME.match(name):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"{name!r}: only page .txt files and article .jsonl exports can be uploaded, "
            "with a plain file name (letters, digits, - _ . and spaces).",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"{name!r} is not UTF-8 text (byte {error.start} cannot be decoded); "
            "save it as UTF-8 and upload it again.",
        ) from error
    if "\x00" in text:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"{name!r} contains NUL bytes: it is not a text file.",
        )
    if not text.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{name!r} is empty.")
    if name.endswith(".jsonl"):
        articles, problems = read_export(text, name)
        if problems:
            listed = "; ".join(
                f"line {p.line}: {p.message.removesuffix('; line skipped')}" for p in problems[:3]
            )
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"{name!r} has {len(problems)} bad line(s), so nothing was saved: {listed}.",
            )
        if not articles:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{name!r} holds no article.")
    return text


def _write_atomically(path: Path, text: str) -> None:
    """Write a file so a reader (a build) sees either the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@router.post(
    "/documents",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadOut,
    responses={
        **ADMIN_ERRORS,
        400: {"model": ErrorOut, "description": "The multipart body cannot be parsed."},
        413: {"model": ErrorOut, "description": "The upload is too large."},
        415: {"model": ErrorOut, "description": "A file is not UTF-8 text."},
        422: {"model": ErrorOut, "description": "A file name, type or JSONL line is refused."},
    },
    dependencies=[AdminDep],
    max_body_size=UPLOAD_BODY_LIMIT,
    summary="Add page .txt or article .jsonl files to the corpus, then rebuild",
)
async def upload_documents(
    files: Annotated[
        list[UploadFile], File(description="Page .txt files and/or article .jsonl exports, UTF-8.")
    ],
    settings: SettingsDep,
    manager: ManagerDep,
) -> JSONResponse:
    """Check every file first (nothing is written if one is refused), write them into the corpus, rebuild."""
    if manager.running:
        raise _busy()
    if not files:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="No file was uploaded.")
    if len(files) > MAX_FILES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"At most {MAX_FILES} files per upload."
        )
    corpus = Path(settings.corpus_dir)
    if corpus.exists() and not corpus.is_dir():
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="The corpus is a single file on this server, so uploads cannot be added to it.",
        )
    checked: dict[str, str] = {}
    for upload in files:
        name = upload.filename or ""
        text = _check_upload(name, await upload.read())
        if name in checked:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{name!r} is uploaded twice.")
        checked[name] = text
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in checked.items():
        _write_atomically(corpus / name, text)
    if not manager.start("upload", build=True):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="The files were saved, but a rebuild is already running; rebuild again when it ends.",
        )
    body = UploadOut(saved=sorted(checked), rebuild=manager.status())
    return JSONResponse(body.model_dump(), status_code=status.HTTP_202_ACCEPTED)
