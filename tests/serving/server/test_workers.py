"""The LIFO request pool of the REST and gRPC servers (``serving/server/workers.py``)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from kerasforge.serving.server.workers import LifoThreadPool, LoopInbox


def test_results_and_exceptions_come_back_through_the_future() -> None:
    pool = LifoThreadPool(2)
    assert pool.submit(pow, 2, 10).result(timeout=5) == 1024
    assert pool.submit(lambda *, key: key * 2, key=21).result(timeout=5) == 42
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result(timeout=5)
    pool.shutdown()


def test_sequential_tasks_run_on_the_thread_that_went_idle_last() -> None:
    """After a burst starts four threads, one client's sequential calls stay on one thread
    (the stdlib pool rotates them through all four)."""
    pool = LifoThreadPool(4)
    gate = threading.Barrier(4)
    burst = [pool.submit(gate.wait, 5) for _ in range(4)]
    for future in burst:
        future.result(timeout=5)
    time.sleep(0.05)  # every thread back on the idle stack
    idents = {pool.submit(threading.get_ident).result(timeout=5) for _ in range(50)}
    assert len(idents) == 1
    pool.shutdown()


def test_at_most_max_workers_run_at_once() -> None:
    pool = LifoThreadPool(3, thread_name_prefix="t")
    release = threading.Event()
    running: list[int] = []
    lock = threading.Lock()

    def task(i: int) -> str:
        with lock:
            running.append(i)
        release.wait(5)
        return threading.current_thread().name

    futures = [pool.submit(task, i) for i in range(10)]
    time.sleep(0.2)
    assert sorted(running) == [0, 1, 2]  # three started; seven queued
    release.set()
    names = {f.result(timeout=5) for f in futures}
    assert names <= {"t_0", "t_1", "t_2"} and sorted(running) == list(range(10))
    pool.shutdown()


def test_tasks_beyond_the_threads_wait_in_arrival_order() -> None:
    pool = LifoThreadPool(1)
    release = threading.Event()
    order: list[int] = []
    first = pool.submit(release.wait, 5)
    queued = [pool.submit(order.append, i) for i in range(20)]
    release.set()
    for future in [first, *queued]:
        future.result(timeout=5)
    assert order == list(range(20))
    pool.shutdown()


def test_shutdown_runs_the_queue_then_refuses_new_tasks() -> None:
    pool = LifoThreadPool(1)
    slow = pool.submit(time.sleep, 0.2)
    queued = pool.submit(lambda: "ran")
    pool.shutdown(wait=True)
    assert slow.done() and queued.result(timeout=0) == "ran"
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(pow, 2, 2)


def test_shutdown_can_cancel_what_waits() -> None:
    pool = LifoThreadPool(1)
    started = threading.Event()
    release = threading.Event()
    running = pool.submit(lambda: (started.set(), release.wait(5)))
    started.wait(5)
    queued = pool.submit(lambda: "never")
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    release.set()
    running.result(timeout=5)


def test_asyncio_runs_blocking_calls_in_it() -> None:
    pool = LifoThreadPool(2)

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(loop.run_in_executor(pool, pow, 3, i) for i in range(5)))

    assert asyncio.run(main()) == [1, 3, 9, 27, 81]
    pool.shutdown()


def test_max_workers_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1; received 0"):
        LifoThreadPool(0)


def test_a_posted_job_that_raises_is_logged_and_the_thread_serves_on(caplog) -> None:
    pool = LifoThreadPool(1)
    done = threading.Event()
    pool.post(lambda: 1 / 0)
    pool.post(done.set)
    assert done.wait(5), "the next job ran on the same (only) thread"
    pool.shutdown()
    assert "a job posted to the worker pool failed" in caplog.text


def test_calls_posted_from_threads_run_on_the_loop_in_order_all_of_them() -> None:
    """Many threads post at once: every call runs, on the loop's thread, each thread's
    calls in the order it posted them, with fewer wake-ups than calls being allowed."""

    async def main() -> tuple[list[tuple[int, int]], set[int]]:
        loop = asyncio.get_running_loop()
        inbox, seen, threads_seen = LoopInbox(loop), [], set()
        finished = loop.create_future()
        total = 4 * 200

        def note(sender: int, i: int) -> None:
            seen.append((sender, i))
            threads_seen.add(threading.get_ident())
            if len(seen) == total:
                finished.set_result(None)

        def send(sender: int) -> None:
            for i in range(200):
                inbox.post(note, sender, i)

        senders = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for thread in senders:
            thread.start()
        await asyncio.wait_for(finished, 10)
        for thread in senders:
            thread.join()
        return seen, threads_seen

    seen, threads_seen = asyncio.run(main())
    assert threads_seen == {threading.get_ident()}  # asyncio.run's loop runs on this thread
    for sender in range(4):
        assert [i for s, i in seen if s == sender] == list(range(200))
