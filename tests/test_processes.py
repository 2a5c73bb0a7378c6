"""symreg.processes: children with deadlines, their process groups, streaming."""

from __future__ import annotations

import os
import time

import pytest

from symreg.processes import (
    kill_child,
    kill_children,
    receive,
    start_child,
    start_context,
    wait_children,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX process groups")


def _double(x):
    return 2 * x


def _raise():
    raise ValueError("boom")


def _hang():
    time.sleep(60)


def _exit_3():
    os._exit(3)


def _grandchild_pid():
    """Start a grandchild that sleeps, report its pid, then hang."""
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    return pid


def _stream(conn, n):
    for i in range(n):
        conn.send(i)
    time.sleep(60)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has stopped running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_answers_errors_deaths_and_timeouts(method):
    children = [start_child(_double, (21,), method=method, tag="ok"),
                start_child(_raise, method=method, tag="error"),
                start_child(_exit_3, method=method, tag="died"),
                start_child(_hang, method=method, timeout=1.0, tag="timeout")]
    start = time.monotonic()
    ends = []
    while children:
        ends += wait_children(children, 0.5)
    assert time.monotonic() - start < 30
    by_tag = {e.child.tag: e for e in ends}
    assert {tag: e.status for tag, e in by_tag.items()} == {
        "ok": "ok", "error": "error", "died": "died", "timeout": "timeout"}
    assert by_tag["ok"].value == 42
    assert isinstance(by_tag["error"].value, ValueError)
    assert by_tag["died"].exitcode == 3
    assert by_tag["timeout"].seconds >= 1.0 and not by_tag["timeout"].child.process.is_alive()


def test_killing_a_child_kills_its_group():
    child = start_child(_grandchild_pid, method="fork", new_group=True)
    (end,) = wait_children([child], 30)  # the answer comes, the grandchild sleeps on
    grandchild = end.value
    assert end.status == "ok"
    # wait_children has killed the group: the grandchild is gone too
    for _ in range(50):
        if not _alive(grandchild):
            break
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_kill_children_returns_the_tags_and_empties_the_list():
    children = [start_child(_hang, method="fork", tag=k) for k in range(2)]
    pids = [c.pid for c in children]
    assert kill_children(children) == [0, 1] and children == []
    assert not any(_alive(p) for p in pids)


def test_a_stream_until_the_deadline():
    child = start_child(_stream, (3,), method="fork", stream=True, timeout=1.0, new_group=False)
    try:
        assert list(receive(child)) == [0, 1, 2]
    finally:
        kill_child(child)
    assert not child.process.is_alive()


def test_start_context_falls_back_and_checks_sigint():
    assert start_context(("no-such-method", "spawn")) is not None
    assert start_context("no-such-method") is None
    with pytest.raises(ValueError, match="sigint"):
        start_child(_double, (1,), method="fork", sigint="sometimes")
