"""Hall-of-fame exchange between search workers.

Every few generations a worker publishes its Pareto front and takes the other
workers' latest fronts: their formulas join its hall of fame (all workers score
on the same data, so the losses carry over) and its population as breeding
material, and an exact formula found by one worker stops them all. The channel
is deliberately cheap and never blocks: a worker reads whatever the others last
wrote.

* :class:`FileExchange` — one small JSON file per worker in a shared folder
  (written atomically); for local processes.
* :class:`RayExchange` — a Ray actor holding the latest fronts; for workers on
  a Ray cluster, where no folder is shared.

A front travels as ``[(tokens, constants, loss), ...]``.

Local workers also share their beginning: each piece of the cheap phases
(a stage of structure tests, the enumeration) is run by the first worker to
claim it (:meth:`FileExchange.claim`), and the first worker hands its hall of
fame and population over (:meth:`FileExchange.hand_over`) to the others, spawned
meanwhile (:meth:`FileExchange.wait_for_start`), instead of each repeating that
work.
"""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path

__all__ = ["Exchange", "FileExchange", "RayExchange", "make_ray_exchange"]

Front = list[tuple[list[str], list[float], float]]

#: seconds between two looks for the first worker's hand-over
START_POLL_SECONDS = 0.02


class Exchange(ABC):
    """A channel through which workers swap their fronts (picklable)."""

    @abstractmethod
    def swap(self, worker: int, front: Front) -> Front:
        """Publish ``worker``'s front; return the other workers' latest fronts."""

    def claim(self, name: str) -> bool:
        """Whether the caller is the first to claim the piece of work ``name``
        (by default every caller is: each worker does every piece)."""
        return True


class FileExchange(Exchange):
    """Fronts as ``front_<worker>.json`` files in ``directory``."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = str(directory)

    def swap(self, worker: int, front: Front) -> Front:
        folder = Path(self.directory)
        tmp = folder / f".front_{worker}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(front))
        os.replace(tmp, folder / f"front_{worker}.json")  # readers never see half a file
        out: Front = []
        for path in sorted(folder.glob("front_*.json")):
            if path.name == f"front_{worker}.json":
                continue
            try:
                out.extend(json.loads(path.read_text()))
            except (OSError, ValueError):  # replaced while read: next time
                continue
        return out

    def claim(self, name: str) -> bool:
        """The first caller creates ``claim_<name>`` (atomically); later ones cannot."""
        try:
            os.close(os.open(Path(self.directory) / f"claim_{name}",
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def hand_over(self, start: dict) -> None:
        """Publish the first worker's state after its cheap phases (``front``: a
        :data:`Front`; ``population``: ``[(tokens, constants), ...]``)."""
        folder = Path(self.directory)
        tmp = folder / f".start.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(start))
        os.replace(tmp, folder / "start.json")

    def wait_for_start(self, until: float) -> dict | None:
        """The first worker's hand-over, waiting for it until ``until`` (wall-clock
        time, as ``time.time()``); None when it did not come (or cannot be read)."""
        path = Path(self.directory) / "start.json"
        while True:
            try:
                return json.loads(path.read_text())
            except FileNotFoundError:
                pass
            except (OSError, ValueError):
                return None
            if time.time() >= until:
                return None
            time.sleep(START_POLL_SECONDS)


class _Board:
    """The Ray actor behind :class:`RayExchange`: the latest front per worker."""

    def __init__(self):
        self.fronts: dict[int, Front] = {}

    def swap(self, worker: int, front: Front) -> Front:
        self.fronts[worker] = front
        return [item for k, f in sorted(self.fronts.items()) if k != worker for item in f]


class RayExchange(Exchange):
    """Fronts kept by a Ray actor (see :func:`make_ray_exchange`)."""

    def __init__(self, actor):
        self.actor = actor

    def swap(self, worker: int, front: Front) -> Front:
        import ray

        return ray.get(self.actor.swap.remote(worker, front))


def make_ray_exchange() -> RayExchange:
    """A new actor on the connected Ray cluster (``ray.init`` must have run)."""
    import ray

    return RayExchange(ray.remote(num_cpus=0)(_Board).remote())
