"""Child processes with deadlines: start, wait, kill, clean up.

Several parts of symreg run work in a child process because it may hang or take
unbounded time (sympy's ``simplify``, a benchmark method, a batch job) or
because it should use another core (the search workers). They all need the
same few things, gathered here:

* :func:`start_child` runs ``target(*args)`` in a child with a chosen start
  method (``"fork"``, ``"spawn"``, ``"forkserver"`` or a context from
  :func:`start_context`), optionally in a process group of its own (so that
  killing it also kills whatever it started) and with a deadline. The target's
  return value, or the exception it raised, comes back over a pipe.
* :func:`wait_children` waits for several children at once and reports each one
  that answered, failed, died or ran past its deadline (:class:`Finished`),
  killing and cleaning up after it.
* :func:`receive` streams the messages of a child started with ``stream=True``
  (the target gets the sending end of the pipe) until it ends or a deadline.
* :func:`kill_child` kills a child and its process group and never raises;
  :func:`kill_children` does so for a list.

This module is low-level: it imports nothing from symreg.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait as _wait
from typing import Any

__all__ = ["Child", "Finished", "kill_child", "kill_children", "receive", "start_child",
           "start_context", "usable_cores", "wait_children"]

SIGINT_MODES = ("inherit", "ignore", "default")


def usable_cores() -> int | None:
    """Cores this process may run on (its affinity), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def start_context(methods: str | Sequence[str], preload: Sequence[str] = ()):
    """The multiprocessing context of the first available start method of ``methods``.

    Parameters
    ----------
    methods : str or sequence of str
        ``"fork"``, ``"spawn"`` or ``"forkserver"``, in order of preference.
    preload : sequence of str
        Modules a ``"forkserver"`` server imports once, so that each child is a
        fork of a process that has them already (ignored for other methods).

    Returns
    -------
    multiprocessing context, or None when none of ``methods`` is available on
    this platform (e.g. ``"fork"`` on Windows).
    """
    if isinstance(methods, str):
        methods = (methods,)
    available = multiprocessing.get_all_start_methods()
    for method in methods:
        if method in available:
            ctx = multiprocessing.get_context(method)
            if method == "forkserver" and preload:
                ctx.set_forkserver_preload(list(preload))
            return ctx
    return None


@dataclass(eq=False)
class Child:
    """A started child: its process, the receiving end of its pipe and its deadline.

    ``start`` and ``deadline`` are ``time.monotonic()`` readings (``deadline`` is
    ``inf`` without one); ``group`` says whether the child leads a process group
    of its own; ``tag`` is whatever the caller attached (a job, a row, an index).
    """

    process: Any
    conn: Any
    start: float
    deadline: float
    group: bool
    tag: Any = None

    @property
    def pid(self) -> int | None:
        return self.process.pid


@dataclass
class Finished:
    """How a child ended.

    ``status`` is ``"ok"`` (``value`` is what the target returned), ``"error"``
    (``value`` is the exception it raised), ``"died"`` (no answer; ``exitcode``
    says how it ended) or ``"timeout"`` (it ran past its deadline and was
    killed). ``seconds`` is the time from its start to when the end was seen.
    """

    child: Child
    status: str
    value: Any = None
    exitcode: int | None = None
    seconds: float = 0.0


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (a child in a session of its own is
    not reached when its parent's process group is killed)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        parent = os.getppid()
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    except (OSError, AttributeError):
        pass


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # noqa: BLE001 - an exception with unpicklable parts
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _child_main(send, target: Callable, args: tuple, new_group: bool, sigint: str,
                die_with_parent: bool, stream: bool) -> None:
    """Body of every child: set up signals and the process group, run, send the answer."""
    if sigint == "ignore":  # the parent handles Ctrl-C
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    elif sigint == "default":  # Ctrl-C ends the child at once, without a traceback
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    if new_group and hasattr(os, "setsid"):
        # a process group of its own, so that killing the child also kills what it started
        os.setsid()
    if die_with_parent:
        _die_with_parent()
    if stream:
        try:
            target(send, *args)
        except BaseException:  # noqa: BLE001, S110 - the stream simply ends
            pass
        finally:
            send.close()
        return
    try:
        message = (True, target(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent
        message = (False, _picklable(exc))
    try:
        send.send(message)
    finally:
        send.close()


def start_child(target: Callable, args: Sequence[Any] = (), *, method: Any = "spawn",
                timeout: float | None = None, new_group: bool = True, sigint: str = "inherit",
                die_with_parent: bool = False, daemon: bool = False, stream: bool = False,
                tag: Any = None) -> Child:
    """Run ``target(*args)`` in a child process.

    Parameters
    ----------
    target : callable
        A module-level function (it is pickled for ``"spawn"`` and ``"forkserver"``).
    args : sequence
        Its arguments.
    method : str or multiprocessing context
        ``"fork"``, ``"spawn"``, ``"forkserver"``, or a context from :func:`start_context`.
    timeout : float, optional
        Seconds from now after which :func:`wait_children` kills the child.
    new_group : bool
        Start a process group (a session) of its own, so :func:`kill_child` also kills
        what the child started. A child outside the group does not get the terminal's Ctrl-C.
    sigint : {"inherit", "ignore", "default"}
        What Ctrl-C does in the child: what it does in the parent (Python raises
        ``KeyboardInterrupt``), nothing, or end the child at once.
    die_with_parent : bool
        Linux: the child is killed when the parent dies.
    daemon : bool
        A daemon child is killed when the parent exits but may not start children itself.
    stream : bool
        The target is called as ``target(conn, *args)`` and sends any number of messages
        itself (read them with :func:`receive`); otherwise its return value, or the
        exception it raised, is sent back as one answer.
    tag : any
        Kept on the returned :class:`Child`.

    Returns
    -------
    Child

    Raises
    ------
    OSError
        When the child cannot be started (process limits); nothing is left open.
    ValueError
        For an unknown ``method`` or ``sigint``.
    """
    if sigint not in SIGINT_MODES:
        raise ValueError(f"sigint must be one of {', '.join(SIGINT_MODES)}, got {sigint!r}")
    ctx = multiprocessing.get_context(method) if isinstance(method, str) else method
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, daemon=daemon,
                       args=(send, target, tuple(args), new_group, sigint, die_with_parent,
                             stream))
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns that fork() in a multi-threaded process (torch) may
            # deadlock; the children started here are killed at their deadline whatever
            # happens
            warnings.simplefilter("ignore", DeprecationWarning)
            proc.start()
    except BaseException:
        send.close()
        recv.close()
        raise
    send.close()  # the child holds the write end now
    now = time.monotonic()
    deadline = float("inf") if timeout is None else now + float(timeout)
    return Child(proc, recv, now, deadline, bool(new_group and hasattr(os, "setsid")), tag)


def kill_child(child: Child, join_seconds: float = 1.0) -> None:
    """Kill ``child`` and, when it leads one, its process group (whatever it started);
    never raises. Its pipe is left open (see :func:`kill_children`)."""
    proc = child.process
    if child.group and proc.pid is not None and hasattr(os, "killpg"):
        # also after the child itself has ended: what it started may still run
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
    try:
        if proc.is_alive():
            proc.kill()
        proc.join(join_seconds)
    except (OSError, ValueError, AssertionError):  # already closed or never started
        pass


def kill_children(children: list[Child]) -> list[Any]:
    """Kill every child of ``children`` and close its pipe; empties the list.

    Returns
    -------
    list
        The tags of the children killed, in order.
    """
    tags = [c.tag for c in children]
    for c in children:
        kill_child(c)
        try:
            c.conn.close()
        except OSError:
            pass
    children.clear()
    return tags


def wait_children(children: list[Child], timeout: float,
                  join_seconds: float = 2.0) -> list[Finished]:
    """Wait up to ``timeout`` seconds for any of ``children``, then collect every child
    that answered, died or ran past its deadline.

    A collected child is given ``join_seconds`` to exit (one that ran over is killed at
    once), its process group is killed, its pipe closed, and it is removed from
    ``children``.

    Parameters
    ----------
    children : list of Child
        Children started with :func:`start_child` (``stream=False``); changed in place.
    timeout : float
        The longest wait, in seconds; shortened to the earliest deadline.
    join_seconds : float
        How long a child that answered or died may take to exit before it is killed.

    Returns
    -------
    list of Finished
        In the order of ``children``; empty when none ended in time.
    """
    if not children:
        return []
    now = time.monotonic()
    soonest = min(c.deadline for c in children) - now
    _wait([c.conn for c in children] + [c.process.sentinel for c in children],
          timeout=max(0.0, min(timeout, soonest)))
    now = time.monotonic()
    done: list[Finished] = []
    for c in list(children):
        proc = c.process
        if c.conn.poll():
            try:
                ok, value = c.conn.recv()
                end = Finished(c, "ok" if ok else "error", value)
            except (EOFError, OSError):  # it died: the pipe closed without an answer
                proc.join(join_seconds)
                end = Finished(c, "died", exitcode=proc.exitcode)
        elif not proc.is_alive():
            end = Finished(c, "died", exitcode=proc.exitcode)
        elif now > c.deadline:
            kill_child(c)
            end = Finished(c, "timeout")
        else:
            continue
        end.seconds = time.monotonic() - c.start
        proc.join(join_seconds)
        kill_child(c)
        if end.exitcode is None:
            end.exitcode = proc.exitcode
        c.conn.close()
        children.remove(c)
        done.append(end)
    return done


def receive(child: Child, until: float | None = None) -> Iterator[Any]:
    """The messages a ``stream=True`` child sends, until it closes its pipe or the
    deadline (``until``, a ``time.monotonic()`` reading; the child's own deadline
    by default) passes. Does not kill the child: call :func:`kill_child` after."""
    deadline = child.deadline if until is None else until
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not child.conn.poll(min(left, 1e9)):
            return
        try:
            yield child.conn.recv()
        except (EOFError, OSError):  # the child finished
            return
