"""A workflow step locks its own request's row and nothing else (PostgreSQL: SQLite has no row locks).

Locking the joined practice, payer, patient and provider rows as well made every step of a
practice's requests wait for each other, and deadlocked with a request being created, whose
foreign-key checks at commit lock the same practice row (found by bench/load_bench.py).
"""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connection, connections, transaction

from factories import draft_for
from priorauth import services

pytestmark = pytest.mark.django_db(transaction=True)


def in_other_connection(work) -> BaseException | None:
    """Run `work` in a thread of its own (its own database connection), giving up on a lock after 3 s."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SET lock_timeout = '3s'")
            work()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            failure.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return failure[0] if failure else None


def test_a_step_in_progress_holds_up_no_other_request_of_the_practice(world):
    if connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("row locks need PostgreSQL, which CI always has")
        pytest.skip("row locks need PostgreSQL")  # a newcomer's SQLite run
    w = world
    locked, other = draft_for(w), draft_for(w)  # same practice, payer, patient and physician
    with transaction.atomic():
        services.request_update(request=locked, by=w.alice)  # an edit in progress holds the request's row

        def create_and_submit() -> None:
            new = services.request_create(
                practice=w.practice_a, patient=w.patient_a, payer=locked.payer,
                treating_physician=w.bob_provider, case={}, by=w.alice,
            )  # fmt: skip
            services.request_submit(request=other, by=w.alice)
            services.request_submit(request=new, by=w.alice)

        assert in_other_connection(create_and_submit) is None

        def submit_the_locked_one() -> None:
            services.request_submit(request=locked, by=w.alice)

        assert "lock timeout" in str(in_other_connection(submit_the_locked_one))  # its own row stays locked
