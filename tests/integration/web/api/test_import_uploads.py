"""Import uploads: off the event loop, refused with 413 while the body is read, 422 for files
past the column, line-length and JSON nesting limits (issue 18)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.registry import importer
from g2p_payment_phee.web.api import registrants as registrants_api
from g2p_payment_phee.web.api import uploads
from g2p_payment_phee.web.app import create_app
from tests.integration.web.api.conftest import Api

IMPORT = "/api/v1/registrants/import"
CSV = b"reference,name\nP-1,Amina Njeri\n"


@pytest.fixture
def served(session: Session, session_factory: sessionmaker[Session]) -> Iterator[str]:
    """The application served by uvicorn on a loopback socket; its URL."""
    session.commit()
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(session_factory), log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    # The socket listens already: connections made before uvicorn is up wait in its backlog.
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)


def test_healthz_answers_while_an_import_runs(
    served: str, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import that has not finished does not hold the event loop: /healthz still answers."""
    started, release = threading.Event(), threading.Event()
    real = importer.import_registrants

    def blocking_import(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(timeout=30), "the test never released the import"
        return real(*args, **kwargs)

    monkeypatch.setattr(registrants_api, "import_registrants", blocking_import)
    answers: list[httpx.Response] = []
    headers = {"Authorization": f"Bearer {tokens['program_manager']}"}

    def post_import() -> None:
        with httpx.Client(base_url=served, timeout=30) as client:
            files = {"file": ("people.csv", CSV, "text/csv")}
            answers.append(client.post(IMPORT, headers=headers, files=files))

    poster = threading.Thread(target=post_import)
    poster.start()
    try:
        assert started.wait(timeout=10), "the import never started"
        with httpx.Client(base_url=served, timeout=5) as client:
            health = client.get("/healthz")
        assert health.status_code == 200
        assert not answers, "the import answered before it was released"
    finally:
        release.set()
        poster.join(timeout=30)
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["created"] == 1


def test_an_upload_past_the_limit_is_refused_while_read(
    served: str, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body without Content-Length is cut off with 413 once it passes the limit; no import."""
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 100_000)
    monkeypatch.setattr(uploads, "FORM_OVERHEAD_BYTES", 1_000)
    called: list[bool] = []
    monkeypatch.setattr(registrants_api, "import_registrants", lambda *a, **k: called.append(True))
    boundary = "b0undary"

    def body() -> Iterator[bytes]:  # chunked: the server cannot know the size in advance
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\n'
            "Content-Type: text/csv\r\n\r\nreference,name\r\n"
        ).encode()
        for _chunk in range(200):
            yield b"P-1,Amina\r\n" * 900
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {
        "Authorization": f"Bearer {tokens['program_manager']}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    with httpx.Client(base_url=served, timeout=30) as client:
        try:
            answer = client.post(IMPORT, headers=headers, content=body())
            assert answer.status_code == 413, answer.text
        except httpx.TransportError:
            pass  # the server may close the connection while the client still sends
    assert not called


def test_a_declared_length_past_the_limit_is_refused_before_reading(api: Api) -> None:
    """Content-Length over the limit: 413 at once, naming the limit."""
    big = b"x" * 10
    answer = api.post(
        IMPORT,
        "program_manager",
        content=big,
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(uploads.MAX_UPLOAD_BYTES * 2),
        },
    )
    assert answer.status_code == 413, answer.text
    assert "50 MB" in answer.text


def test_no_token_is_refused_before_the_body_is_read(api: Api) -> None:
    """401, not 413, for an oversized body without a token: sign-in comes first."""
    answer = api.post(
        IMPORT,
        None,
        content=b"x",
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(uploads.MAX_UPLOAD_BYTES * 2),
        },
    )
    assert answer.status_code == 401, answer.text


@pytest.mark.parametrize(
    ("content", "name", "limit"),
    [
        (",".join(f"c{i}" for i in range(20_000)).encode() + b"\n", "wide.csv", "64 K"),
        (",".join(["reference"] * 201).encode() + b"\n", "wide.csv", "at most 200"),
        (b"reference,name\nP-1," + b"x" * 70_000 + b"\n", "long.csv", "64 K"),
        (b"[" * 100_000 + b"]" * 100_000, "deep.json", "deeper than 64"),
    ],
)
def test_files_past_a_limit_get_a_clear_422(
    api: Api, content: bytes, name: str, limit: str
) -> None:
    """Registrant and entitlement imports refuse them naming the limit, never with a 500."""
    files = {"file": (name, content, "application/octet-stream")}
    answer = api.post(IMPORT, "program_manager", files=files)
    assert answer.status_code == 422, answer.text
    assert limit in answer.json()["error"]["message"]


def test_the_uploaded_temporary_file_is_removed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import reads the upload from a file on disk, gone once the request is answered."""
    seen: list[Path] = []
    real = importer.import_registrants

    def spying_import(session: Any, user: Any, source: Any, **kwargs: Any) -> Any:
        assert isinstance(source, Path)
        assert source.read_bytes() == CSV
        seen.append(source)
        return real(session, user, source, **kwargs)

    monkeypatch.setattr(registrants_api, "import_registrants", spying_import)
    files = {"file": ("people.csv", CSV, "text/csv")}
    report = api.ok("POST", IMPORT, "program_manager", files=files)
    assert report["created"] == 1
    assert seen
    assert not seen[0].exists()
