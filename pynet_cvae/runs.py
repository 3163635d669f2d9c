"""Run folders: one training run per folder, one process writing it at a time.

A :class:`RunFolder` guards the output folder of a training run (``pynet-cvae train
--output``):

- a folder that holds another run is refused, with one line naming the ways out:
  continue it (``--resume``), replace it (``--overwrite``, which first removes that
  run's files), or choose a new folder; so two runs never mix their checkpoints or
  histories;
- while a run writes, it holds a lock (``run.lock``, an advisory ``flock`` released
  when the process ends, even killed): a second process is refused before it
  touches anything;
- the run's settings, a plain dict, are saved as ``run.json``; on ``--resume`` they
  are compared with the saved ones before anything is written, and a change outside
  the keys declared changeable (such as the number of epochs) is refused with each
  difference named. A refused run changes nothing in the folder.

The folder knows nothing of models: the caller gives the settings, the names of the
files and folders a run writes (``outputs``), the changeable keys and the option names
its messages cite. ::

    with RunFolder("runs/digits", {"model": {...}, "training": {"epochs": 20}},
                   resume=False, outputs=("checkpoints", "train.json"),
                   changeable=("training",)):
        ...  # train, writing into runs/digits
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
from typing import Any, Collection, Dict, List, Mapping, Optional, Tuple

from .fileio import atomic_write_text

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunFolder", "RunFolderError", "CONFIG_FILE", "LOCK_FILE", "config_changes"]

logger = logging.getLogger("pynet_cvae")

CONFIG_FILE = "run.json"
"""The run's settings, in the run folder."""

LOCK_FILE = "run.lock"
"""The file a writing process holds locked."""

DEFAULT_OPTIONS = {"resume": "--resume", "overwrite": "--overwrite", "path": "--output"}
"""How the messages name the ways out (the command line's options by default)."""


class RunFolderError(ValueError):
    """A run folder cannot be used as asked; the message says why and what to do."""


class RunFolder:
    """The output folder of one training run.

    Parameters
    ----------
    path : str
        The folder (created when missing).
    config : mapping
        The run's settings: JSON-serialisable values, possibly nested dicts.
    resume : bool, default False
        Continue the run of the folder: its saved settings must equal ``config``
        except under ``changeable``. A folder holding no run starts afresh.
    overwrite : bool, default False
        Replace the run of the folder: its ``outputs`` are removed first.
    outputs : collection of str
        The files and folders (relative to ``path``) a run writes; any of them in
        the folder means it holds a run. ``overwrite`` removes them, nothing else.
    changeable : collection of str
        The keys of ``config`` (dotted for nested ones, e.g. ``"training.epochs"``;
        a key covers what is below it) whose value may differ on ``resume``.
    options : mapping, optional
        The names the messages give to ``resume``, ``overwrite`` and ``path``
        (default: ``--resume``, ``--overwrite``, ``--output``).

    Raises
    ------
    ValueError
        If both ``resume`` and ``overwrite`` are asked for.

    Notes
    -----
    Use it as a context manager, or call :meth:`open` and :meth:`close`. Only the
    process that writes the run (rank 0 of a distributed run) opens the folder.
    """

    def __init__(self, path: str, config: Mapping[str, Any], resume: bool = False,
                 overwrite: bool = False, outputs: Collection[str] = (),
                 changeable: Collection[str] = (),
                 options: Optional[Mapping[str, str]] = None) -> None:
        self.options = {**DEFAULT_OPTIONS, **(options or {})}
        if resume and overwrite:
            raise RunFolderError(f"{self.options['resume']} and {self.options['overwrite']} "
                                 "exclude each other: continue the run or replace it")
        self.path = os.fspath(path)
        self.config = _plain(dict(config))
        self.resume, self.overwrite = bool(resume), bool(overwrite)
        self.outputs = tuple(outputs)
        self.changeable = tuple(changeable)
        self.resumed = False
        self._lock: Optional[int] = None

    # ------------------------------------------------------------------ life cycle
    def open(self) -> "RunFolder":
        """Check the folder, lock it and save the settings.

        Returns
        -------
        RunFolder
            ``self``; :attr:`resumed` tells whether an earlier run is continued.

        Raises
        ------
        RunFolderError
            If ``path`` is a file, another process writes there, the folder holds
            another run (without ``resume`` or ``overwrite``), or ``resume`` changes
            a setting that is not changeable. Nothing in the folder is changed then.
        """
        self._create()
        self._acquire_lock()
        try:
            self.resumed = self._check_and_prepare()
            atomic_write_text(self.config_path, json.dumps(self.config, indent=2,
                                                           sort_keys=True) + "\n")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Release the lock (the folder's files stay)."""
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def __enter__(self) -> "RunFolder":
        return self.open()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ queries
    @property
    def config_path(self) -> str:
        """The folder's ``run.json``."""
        return os.path.join(self.path, CONFIG_FILE)

    def holds_run(self) -> bool:
        """Whether the folder holds what a run wrote (one of ``outputs``).

        Settings alone (a run that failed before writing anything) do not count.
        """
        return any(os.path.lexists(os.path.join(self.path, name)) for name in self.outputs)

    def saved_config(self) -> Optional[Dict[str, Any]]:
        """The settings saved by the folder's run, or None when there are none.

        Raises
        ------
        RunFolderError
            If ``run.json`` is not a JSON object.
        """
        try:
            with open(self.config_path, encoding="utf-8") as stream:
                saved = json.load(stream)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise RunFolderError(f"cannot read the run's settings {self.config_path!r}: "
                                 f"{error}") from None
        if not isinstance(saved, dict):
            raise RunFolderError(f"the run's settings {self.config_path!r} are not a JSON "
                                 "object")
        return saved

    # ------------------------------------------------------------------ steps
    def _create(self) -> None:
        path, flag = self.path, self.options["path"]
        if os.path.exists(path) and not os.path.isdir(path):
            raise RunFolderError(f"{flag} {path!r} is a file, not a folder: choose a folder "
                                 "(created when missing)")
        os.makedirs(path, exist_ok=True)  # an OSError names the path (one line in the CLI)

    def _acquire_lock(self) -> None:
        lock_path = os.path.join(self.path, LOCK_FILE)
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(descriptor)
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise RunFolderError(f"cannot lock {lock_path!r}: "
                                         f"{error.strerror or error}") from None
                raise RunFolderError(
                    f"another process is writing a run in {self.path!r} (it holds "
                    f"{LOCK_FILE}): wait for it to end, or choose another "
                    f"{self.options['path']}") from None
        self._lock = descriptor

    def _check_and_prepare(self) -> bool:
        """Refuse what must be refused; clear the old run on overwrite. Return whether
        the folder's run is continued."""
        if not self.holds_run():
            if self.resume:
                logger.info("%s holds no run to resume: training starts afresh", self.path)
            return False
        if self.overwrite:
            self._remove_outputs()
            return False
        if not self.resume:
            raise RunFolderError(
                f"{self.options['path']} {self.path!r} holds another run: pass "
                f"{self.options['resume']} to continue it, {self.options['overwrite']} to "
                f"replace it, or choose a new {self.options['path']}")
        saved = self.saved_config()
        if saved is None:
            logger.warning("%s has no %s (a run of an earlier version): its settings "
                           "cannot be compared with these", self.path, CONFIG_FILE)
            return True
        changes = [change for change in config_changes(saved, self.config)
                   if not _covered(change[0], self.changeable)]
        if changes:
            listed = ", ".join(f"{key} {_shown(old)} -> {_shown(new)}"
                               for key, old, new in changes)
            raise RunFolderError(
                f"{self.options['resume']} would change the run of {self.path!r}: {listed}; "
                f"keep its settings (in {CONFIG_FILE}), or pass {self.options['overwrite']} "
                f"or a new {self.options['path']} to train another run")
        return True

    def _remove_outputs(self) -> None:
        for name in (CONFIG_FILE,) + self.outputs:
            target = os.path.join(self.path, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(target)
        logger.info("removed the previous run of %s", self.path)


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = ""
                   ) -> List[Tuple[str, Any, Any]]:
    """The differences between two settings dicts.

    Parameters
    ----------
    old, new : mapping
        The settings, possibly nested.
    prefix : str
        Put before each key (used for nested dicts).

    Returns
    -------
    list of (str, object, object)
        ``(dotted key, old value, new value)`` in key order; a missing key has the
        value None.

    Examples
    --------
    >>> config_changes({"model": {"hidden": 512}}, {"model": {"hidden": 64}})
    [('model.hidden', 512, 64)]
    """
    changes = []
    for key in sorted(set(old) | set(new), key=str):
        before, after = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            changes.extend(config_changes(before, after, prefix=f"{name}."))
        elif before != after:
            changes.append((name, before, after))
    return changes


def _covered(key: str, changeable: Collection[str]) -> bool:
    return any(key == allowed or key.startswith(f"{allowed}.") for allowed in changeable)


def _shown(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)


def _plain(config: Dict[str, Any]) -> Dict[str, Any]:
    """``config`` as JSON gives it back (tuples become lists), so that it compares
    equal to its saved copy."""
    try:
        return json.loads(json.dumps(config))
    except (TypeError, ValueError) as error:
        raise ValueError(f"the run's settings must be JSON values: {error}") from None

