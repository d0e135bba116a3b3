"""Files written during a transaction are deleted if it rolls back, so that no patient's file is
left in storage without the record that points to it (and is the only way to reach it).

Django has no on-rollback hook, so the writer registers each file it writes (`written`) and the
code that owns the outermost transaction of a request (priorauth.api.BaseApi.dispatch, the pages'
upload view) runs it inside `deleted_on_rollback()`, which deletes the registered files when the
block rolls back: an exception, or a rollback it was asked for (transaction.set_rollback).
A service that runs outside such a block deletes its file itself when its own transaction fails.

The other way round, a file a transaction stops naming is deleted only once that transaction
commits (`deleted_on_commit`): deleted inside it, a rollback would leave the row naming a missing
file. Should a stored file go missing all the same, its download answers 410 naming the problem
(config.exceptions), never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.files.storage import Storage
from django.db import transaction

logger = logging.getLogger(__name__)

_pending: ContextVar[list[tuple[Storage, str]] | None] = ContextVar("files_written_in_transaction", default=None)


def written(storage: Storage, name: str) -> bool:
    """Note a file just written inside the current block; False when no block watches (the
    caller then cleans up after its own transaction)."""
    files = _pending.get()
    if files is None:
        return False
    files.append((storage, name))
    return True


def _delete(files: list[tuple[Storage, str]], *, after: str = "a rollback") -> None:
    for storage, name in files:
        try:
            storage.delete(name)
        except OSError as exc:  # the name only: it holds no PHI (see models.attachment_path)
            logger.error("could not delete %s after %s: %s", name, after, type(exc).__name__)


def deleted_on_commit(storage: Storage, name: str) -> None:
    """Delete a stored file once the current transaction commits (at once outside one); nothing
    happens if it rolls back, so the row that still names the file keeps it."""
    transaction.on_commit(lambda: _delete([(storage, name)], after="a commit"))


@contextmanager
def deleted_on_rollback() -> Iterator[None]:
    """transaction.atomic() that also deletes the files written inside it when it rolls back."""
    outer = _pending.get()
    files: list[tuple[Storage, str]] = []
    token = _pending.set(files)
    rolled_back = True
    try:
        with transaction.atomic():
            yield
            rolled_back = transaction.get_rollback()
    finally:
        _pending.reset(token)
        if rolled_back:
            _delete(files)
        elif outer is not None:  # a savepoint released: the enclosing block may still roll back
            outer.extend(files)
