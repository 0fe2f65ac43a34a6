"""Files a bot uploads to the fake Telegram (sendPhoto, sendDocument), read from the multipart
request as Telegram reads them, with Telegram's refusals: no file, an empty file, over 50 MB."""

from __future__ import annotations

from typing import Any

# Bot API: "Bots can currently send files of any type of up to 50 MB in size"; the server
# refuses a bigger request outright (HTTP 413), before reading any parameter.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class Refused(Exception):
    """What the Bot API answers instead of a result: an HTTP status and its description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def _part(params: dict[str, Any], files: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if isinstance(value, str) and value.startswith("attach://"):
        key = value.removeprefix("attach://")
    elif value is None and name in files:
        key = name  # a single upload: PTB sends it as the part named after the parameter
    elif value is None:
        raise Refused(400, f"Bad Request: there is no {name} in the request")
    else:
        raise Refused(400, "Bad Request: only uploads are supported by the fake Bot API")
    if key not in files:
        raise Refused(400, f"Bad Request: there is no {name} in the request")
    return files[key]


def upload_bytes(params: dict[str, Any], files: dict[str, Any], name: str) -> bytes:
    """The content of the uploaded file for parameter ``name``."""
    content = _part(params, files, name)[1]
    return content if isinstance(content, bytes) else bytes(content.read())


def upload_name(params: dict[str, Any], files: dict[str, Any], name: str) -> str:
    """The file name the upload carries (Telegram keeps it as the document's name)."""
    part = _part(params, files, name)
    return str(part[0]) if part[0] else "document"


def document_bytes(params: dict[str, Any], files: dict[str, Any]) -> bytes:
    """sendDocument's file, refused as Telegram refuses it."""
    content = upload_bytes(params, files, "document")
    if len(content) > MAX_UPLOAD_BYTES:
        raise Refused(413, "Request Entity Too Large")
    if not content:
        raise Refused(400, "Bad Request: file must be non-empty")
    return content
