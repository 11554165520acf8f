"""The Files API as batch JSONL input and output need it: resumable uploads, get, download.

An upload starts with `POST /upload/v1beta/files` (`X-Goog-Upload-Command: start`), answered
with an `x-goog-upload-url`; chunks are then POSTed there (`upload`, the last one `upload,
finalize`) at their `X-Goog-Upload-Offset`. Finished files are `files/{id}` resources that
expire 48 hours after creation (ai.google.dev "Files API"). A batch's results file is a
generated file (`source: GENERATED`), which is what can be downloaded.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

from optimization.simulator.batches import timestamp
from optimization.simulator.gemini_api.errors import GoogleError, invalid_argument

FILE_LIFETIME_SECONDS = 48 * 3600
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024


@dataclass
class StoredFile:
    """One file: its bytes and what the API says about it."""

    name: str
    display_name: str
    mime_type: str
    created_at: float
    data: bytes
    generated: bool = False

    def as_json(self, base_url: str) -> dict[str, Any]:
        """The File resource."""
        resource: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": timestamp(self.created_at),
            "updateTime": timestamp(self.created_at),
            "expirationTime": timestamp(self.created_at + FILE_LIFETIME_SECONDS),
            "sha256Hash": hashlib.sha256(self.data).hexdigest(),
            "uri": f"{base_url.rstrip('/')}/v1beta/{self.name}",
            "state": "ACTIVE",
            "source": "GENERATED" if self.generated else "UPLOADED",
        }
        if self.generated:
            resource["downloadUri"] = (
                f"{base_url.rstrip('/')}/download/v1beta/{self.name}:download?alt=media"
            )
        return resource


@dataclass
class _Upload:
    display_name: str
    mime_type: str
    size: int | None
    data: bytearray = field(default_factory=bytearray)


class FileStore:
    """The files of one simulator instance."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, _Upload] = {}
        self._lock = threading.Lock()

    def start_upload(self, upload_id: str, body: Any, declared_size: str | None) -> None:
        """Open an upload session for the file described in `body`."""
        described = body.get("file") if isinstance(body, dict) else None
        described = described if isinstance(described, dict) else {}
        size = int(declared_size) if declared_size and declared_size.isdigit() else None
        if size is not None and size > MAX_FILE_BYTES:
            raise invalid_argument(f"File size {size} exceeds the limit of {MAX_FILE_BYTES} bytes.")
        with self._lock:
            # Protobuf JSON takes the camelCase and the snake_case spelling alike (the SDK
            # sends the latter).
            self._uploads[upload_id] = _Upload(
                str(described.get("displayName", described.get("display_name", ""))),
                str(described.get("mimeType", described.get("mime_type", "text/plain"))),
                size,
            )

    def upload_chunk(
        self, upload_id: str, offset: int, chunk: bytes, *, finalize: bool, file_id: str, now: float
    ) -> StoredFile | None:
        """Append `chunk` at `offset`; the stored file once finalized, else None."""
        with self._lock:
            upload = self._uploads.get(upload_id)
            if upload is None:
                raise GoogleError(404, f"No upload session {upload_id}.")
            if offset != len(upload.data):
                raise invalid_argument(
                    f"Upload offset {offset} does not match the {len(upload.data)} bytes received."
                )
            upload.data += chunk
            if not finalize:
                return None
            del self._uploads[upload_id]
            stored = StoredFile(
                f"files/{file_id}", upload.display_name, upload.mime_type, now, bytes(upload.data)
            )
            self._files[stored.name] = stored
            return stored

    def put_generated(self, name: str, data: bytes, *, now: float) -> StoredFile:
        """Store a file the API made (a batch's results)."""
        stored = StoredFile(name, name, "application/jsonl", now, data, generated=True)
        with self._lock:
            self._files[name] = stored
        return stored

    def get(self, name: str, *, now: float) -> StoredFile:
        """A live file; 404 NOT_FOUND when unknown, deleted or expired (403 as Google words it)."""
        with self._lock:
            stored = self._files.get(name)
            if stored is not None and stored.created_at + FILE_LIFETIME_SECONDS <= now:
                del self._files[name]
                stored = None
        if stored is None:
            raise GoogleError(404, f"File {name} not found or expired.")
        return stored

    def delete(self, name: str, *, now: float) -> None:
        """Forget a file; 404 when it is not there."""
        self.get(name, now=now)
        with self._lock:
            self._files.pop(name, None)
