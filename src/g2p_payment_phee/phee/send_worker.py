"""Where a send's database work runs: a thread, or a process of its own.

A send uploads on the calling thread while its claims and records run beside it (``send.py``).
On a thread, that database work holds the GIL for about 1.5 ms of CPU per batch, serialised with
the uploads' own Python time. In a process of its own it only competes for a core. Measured on
2,000 batches in segments alternating the two, each beside a bare upload loop, the process took
1.46x the loop's time against 1.62x for the thread (README, "Send").

So a large send on PostgreSQL (``PROCESS_FROM`` batches or more; ``G2P_SEND_DB_PROCESS``) hands
its database work to one child process, kept for the life of this process and shared by its
sends (two sends at once take turns in it, call by call). Starting one costs about a second of
CPU for imports (the parent's main script is run again in the child: the console script's module
therefore imports no command, see ``cli/__init__.py``): until the child has answered once, the
work runs on the thread (a claim is always committed before its upload, wherever it ran).
Everything else uses the thread: small sends, SQLite (one writer at a time anyway), sessions
not bound to an engine.

The child gets each call's database URL, acting user and ``G2P_*`` environment with the call
(settings and secrets are the parent's, as they are at that moment) and answers with plain
picklable values; nothing of the parent's session or connections crosses. If the child dies,
the calls in flight fail: their claims committed or not, their answers recorded or not — the
batches concerned stay ``sending`` and the stale-claim lookup resolves them, as after any crash.
A send that finds the child dead goes on with its thread; the next large send starts a new one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.users.models import User

log = logging.getLogger(__name__)
T = TypeVar("T")
PROCESS_FROM = 100  # batches: below this a send's database work stays on its thread
ENV_PREFIX = "G2P_"


class DatabaseWork(Protocol):
    """Runs ``fn(factory, actor, *args)`` beside the uploads, one call at a time, in order."""

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]: ...


class _OnThread:
    """The send's own database thread (small sends, SQLite, and the child's start-up)."""

    def __init__(self, factory: sessionmaker[Session], actor: User) -> None:
        self._factory = factory
        self._actor = actor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="phee-send-db")

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(fn, self._factory, self._actor, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@dataclass
class PerSend:
    """State that the calls of one send share wherever they run: the child keeps the first copy
    of each ``key`` it receives and hands that one to the send's later calls."""

    key: str = field(default_factory=lambda: uuid.uuid4().hex, kw_only=True)


class _InChild:
    """Calls go to the shared child once it has answered; to the thread until then. Both run
    one call at a time; a record never overtakes its claim, because the uploads between them
    wait for the claim."""

    def __init__(self, thread: _OnThread, child: _Child, url: str, actor_id: uuid.UUID) -> None:
        self._thread = thread
        self._child: _Child | None = child
        self._url = url
        self._actor_id = actor_id
        self._submitted: list[Future[Any]] = []

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        if self._child is None or not self._child.usable():
            return self._thread.submit(fn, *args)
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
        try:
            future = self._child.submit(_run_in_child, fn, self._url, self._actor_id, env, *args)
        except BrokenProcessPool:
            log.warning("the send's worker process is gone: the send goes on with its thread")
            self._child = None
            return self._thread.submit(fn, *args)
        self._submitted.append(future)
        return future

    def settle(self) -> None:
        """Wait for every call handed to the child, as the thread's are waited for: a send that
        stops early still records the answers it has."""
        wait(self._submitted)


class _Child:
    """The one worker process of this process's large sends, started on first use."""

    def __init__(self) -> None:
        # A fresh interpreter, never a fork of this process (whose threads may hold locks). It
        # costs about a second of imports once; a fork server would not save them, since each of
        # its children imports this process's main module again anyway.
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        self._warm: Future[int] = self._pool.submit(_warm_up)

    def usable(self) -> bool:
        """Started, answered once, and not known to have died."""
        return self._warm.done() and not self.broken()

    def broken(self) -> bool:
        """It died, or never started (the pool says so once it has noticed)."""
        if self._warm.done() and self._warm.exception() is not None:
            return True
        # The executor marks itself broken once it notices a dead worker (CPython's private
        # flag, read defensively; a call to it then fails too, which ``_InChild`` handles).
        return bool(getattr(self._pool, "_broken", False))

    def pid(self) -> int:
        """The child's process id, once it has started (waits for it)."""
        return self._warm.result()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:
            _forget(self)
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


_lock = threading.Lock()
_shared: _Child | None = None


def shared_child() -> _Child:
    """The worker process (started now if there is none, or if the last one died)."""
    global _shared
    with _lock:
        if _shared is None or _shared.broken():
            _shared = _Child()
        return _shared


def _forget(child: _Child) -> None:
    global _shared
    with _lock:
        if _shared is child:
            _shared = None


def stop_child() -> None:
    """Stop the worker process, if one runs (tests; a process shutting down)."""
    global _shared
    with _lock:
        child, _shared = _shared, None
    if child is not None:
        child.close()


def _engine_url(factory: sessionmaker[Session]) -> str | None:
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return None
    return bind.url.render_as_string(hide_password=False)


@contextmanager
def database_work(
    factory: sessionmaker[Session], actor: User, batches: int
) -> Iterator[DatabaseWork]:
    """Where this send's claims and records run (see the module's text); waits for the calls
    submitted on the thread when the block ends."""
    thread = _OnThread(factory, actor)
    try:
        url = _engine_url(factory)
        child = None
        if url is not None and batches >= PROCESS_FROM and get_settings().send_db_process:
            child = _start_child()
        if url is None or child is None:
            yield thread
        else:
            in_child = _InChild(thread, child, url, actor.id)
            try:
                yield in_child
            finally:
                in_child.settle()
    finally:
        thread.close()


def _start_child() -> _Child | None:
    """The shared worker process, or None (logged) when this process may not start one: a
    daemonic process, say, may have no children."""
    try:
        return shared_child()
    except Exception as error:
        log.warning(
            "no worker process for this send (%s: %s): its database work stays on its thread",
            type(error).__name__,
            error,
        )
        return None


# --- in the child ------------------------------------------------------------------------------

_factories: dict[str, sessionmaker[Session]] = {}
_actors: dict[tuple[str, uuid.UUID], User] = {}


def _warm_up() -> int:
    """The child's first call: it imports what a send's database work needs (the second or so
    that the calls would otherwise wait for), logs as the CLI does, and says who it is."""
    import logging

    import g2p_payment_phee.phee.send  # noqa: F401

    logging.basicConfig(
        level=get_settings().log_level,
        format="%(asctime)s %(levelname)s %(name)s [send worker %(process)d]: %(message)s",
    )
    return os.getpid()


_per_send: dict[str, PerSend] = {}
PER_SEND_KEPT = 64  # sends whose shared state the child remembers


def _run_in_child(
    fn: Callable[..., T], url: str, actor_id: uuid.UUID, env: dict[str, str], *args: Any
) -> T:
    _adopt_environment(env)
    factory = _factory(url)
    shared = tuple(_per_send_copy(arg) if isinstance(arg, PerSend) else arg for arg in args)
    return fn(factory, _actor(url, factory, actor_id), *shared)


def _per_send_copy(state: PerSend) -> PerSend:
    kept = _per_send.get(state.key)
    if kept is None:
        if len(_per_send) >= PER_SEND_KEPT:
            _per_send.pop(next(iter(_per_send)))
        kept = _per_send[state.key] = state
    return kept


def _adopt_environment(env: dict[str, str]) -> None:
    """The parent's ``G2P_*`` settings, as they are for this call."""
    mine = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    if mine == env:
        return
    for name in mine.keys() - env.keys():
        del os.environ[name]
    os.environ.update(env)
    get_settings.cache_clear()


def _factory(url: str) -> sessionmaker[Session]:
    from g2p_payment_phee.db import make_engine, make_session_factory

    factory = _factories.get(url)
    if factory is None:
        factory = _factories[url] = make_session_factory(make_engine(url))
    return factory


def _actor(url: str, factory: sessionmaker[Session], actor_id: uuid.UUID) -> User:
    """The acting user, loaded once per database and detached (only read)."""
    actor = _actors.get((url, actor_id))
    if actor is None:
        with factory() as session:
            actor = session.get_one(User, actor_id)
            session.expunge(actor)
        _actors[(url, actor_id)] = actor
    return actor
