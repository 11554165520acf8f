"""Uploaded files (`purpose=batch` inputs) and the output/error files batches write."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any

from optimization.simulator.errors import ApiError
from optimization.simulator.openai_api.errors import OpenAIError, invalid

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    """One file: its id, content and what it is for."""

    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def as_json(self) -> dict[str, Any]:
        """The File object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "expires_at": None,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


def parse_upload(content_type: str, body: bytes) -> tuple[str, str, bytes]:
    """`(purpose, filename, content)` of a multipart/form-data upload (400 when malformed).

    Read with the standard library's MIME parser, which keeps each part's bytes as sent.
    """
    if not content_type.lower().startswith("multipart/form-data"):
        raise invalid("Invalid Content-Type: expected multipart/form-data.")
    header = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    if message.is_multipart():
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = (part.get_filename(), payload)
    if "file" not in fields:
        raise invalid(
            "Missing required parameter: 'file'.", param="file", code="missing_required_parameter"
        )
    if "purpose" not in fields:
        raise invalid(
            "Missing required parameter: 'purpose'.",
            param="purpose",
            code="missing_required_parameter",
        )
    purpose = fields["purpose"][1].decode(errors="replace")
    if purpose not in PURPOSES:
        raise invalid(
            f"Invalid value: {purpose!r}. Supported values are: "
            + ", ".join(f"'{p}'" for p in PURPOSES)
            + ".",
            param="purpose",
            code="invalid_value",
        )
    filename, content = fields["file"]
    return purpose, filename or "upload", content


class FileStore:
    """The files of one simulator instance."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()

    def add(self, stored: StoredFile) -> StoredFile:
        """Keep `stored` (its id is new)."""
        if len(stored.content) > MAX_FILE_BYTES:
            raise ApiError(413, "File is too large: files may be at most 512 MB.")
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        """The file; 404 when unknown."""
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise OpenAIError(404, f"No such File object: {file_id}", param="id")
        return stored
