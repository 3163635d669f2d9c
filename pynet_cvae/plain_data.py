"""What a checkpoint may hold (plain data), its digest, and what a refused one refers to.

Checkpoints hold tensors, numbers, strings, None and lists/tuples/dicts of them:
what ``torch.load(..., weights_only=True)`` loads without running code.
:func:`check_plain_data` refuses anything else before a file is written.

:func:`content_digest` is a SHA-256 of such a value (types, keys, tensor dtypes,
shapes and bytes, in order), written inside the checkpoint so that a file whose
``.sha256`` was lost is still checked: a flipped bit in a tensor changes it.

:func:`referenced_globals` lists the Python objects a refused pickle refers to
(read from its opcodes, never run), so the refusal names them.
"""

from __future__ import annotations

import hashlib
import pickletools
import struct
import zipfile
from typing import Any, Dict, List

import torch

PLAIN_SCALARS = (bool, int, float, complex, str, bytes, type(None), torch.dtype,
                 torch.device, torch.Size)
"""The non-container values a checkpoint may hold besides tensors."""

# Globals that torch's weights-only unpickler accepts in every checkpoint.
_SAFE_MODULES = ("torch", "collections", "_codecs", "builtins")


def check_plain_data(value: Any, where: str = "checkpoint") -> None:
    """Check that ``value`` holds only what ``weights_only=True`` loads.

    Raises
    ------
    TypeError
        Naming the first entry of another type, e.g. ``checkpoint['observers'][...]``.
    """
    if isinstance(value, (torch.Tensor,) + PLAIN_SCALARS):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where} has a key {key!r} of type {type(key).__name__}: "
                                "checkpoint keys are strings or integers")
            check_plain_data(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain_data(item, f"{where}[{index}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}: checkpoints "
        "hold only tensors, numbers, strings, None and lists/tuples/dicts of them "
        "(convert it, e.g. float(x) or torch.as_tensor(x))")


def content_digest(value: Any) -> str:
    """The SHA-256 (hexadecimal) of plain data, tensors included.

    Equal values give equal digests across a save and a load: the digest covers
    each value's type, each dict's keys in order, and each tensor's dtype, shape
    and bytes (not its device).

    Parameters
    ----------
    value : plain data
        As :func:`check_plain_data` accepts.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        _feed_tensor(digest, value)
    elif isinstance(value, dict):
        digest.update(b"D%d;" % len(value))
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, torch.Size):
        digest.update(f"Z{tuple(value)};".encode())
    elif isinstance(value, (list, tuple)):
        digest.update(b"%s%d;" % (b"L" if isinstance(value, list) else b"U", len(value)))
        for item in value:
            _feed(digest, item)
    elif isinstance(value, float):
        digest.update(b"F" + value.hex().encode() + b";")
    elif isinstance(value, complex):
        digest.update(b"C" + value.real.hex().encode() + b"," + value.imag.hex().encode())
    elif isinstance(value, bytes):
        digest.update(b"B%d;" % len(value) + value)
    elif isinstance(value, str):
        encoded = value.encode("utf-8", "surrogatepass")
        digest.update(b"S%d;" % len(encoded) + encoded)
    else:  # bool, int, None, torch.dtype, torch.device
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def _feed_tensor(digest: Any, tensor: torch.Tensor) -> None:
    tensor = tensor.detach()
    digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}{tensor.layout};".encode())
    if tensor.is_meta:
        return
    if tensor.layout != torch.strided:
        tensor = tensor.to_dense()
    if tensor.is_quantized:
        digest.update(struct.pack("<d", float(tensor.q_scale()))
                      if tensor.qscheme() == torch.per_tensor_affine else b"")
        tensor = tensor.int_repr()
    data = tensor.cpu().contiguous().reshape(-1)
    if data.dtype == torch.bool:
        data = data.to(torch.uint8)
    digest.update(data.view(torch.uint8).numpy())


def referenced_globals(path: str) -> List[str]:
    """The Python objects a torch checkpoint's pickle refers to, other than torch's.

    The opcodes are read (never run); a file that is not a zip-format checkpoint
    gives an empty list.

    Parameters
    ----------
    path : str
        The checkpoint.

    Returns
    -------
    list of str
        ``module.name`` of each referenced global outside torch, collections,
        _codecs and builtins, in order of appearance.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if name.endswith("/data.pkl")
                     or name == "data.pkl"]
            if not names:
                return []
            data = archive.read(names[0])
    except (OSError, zipfile.BadZipFile):
        return []
    found: List[str] = []
    try:
        for name in _globals_of(data):
            if name.split(".")[0] not in _SAFE_MODULES and name not in found:
                found.append(name)
    except Exception:  # noqa: BLE001 - a damaged pickle: report what was read
        pass
    return found


def _globals_of(data: bytes) -> List[str]:
    """``module.name`` of each GLOBAL / STACK_GLOBAL opcode of a pickle."""
    names: List[str] = []
    strings: List[str] = []  # the strings pushed, most recent last
    memo: Dict[int, str] = {}
    memoized, pushed = 0, None  # objects memoized so far; the string just pushed
    for opcode, argument, _ in pickletools.genops(data):
        if opcode.name == "GLOBAL":
            names.append(str(argument).replace(" ", "."))
        elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
            names.append(f"{strings[-2]}.{strings[-1]}")
        elif opcode.name in ("BINPUT", "LONG_BINPUT", "PUT") and pushed is not None:
            memo[int(argument)] = pushed
        elif opcode.name == "MEMOIZE":
            if pushed is not None:
                memo[memoized] = pushed
            memoized += 1
        elif opcode.name in ("BINGET", "LONG_BINGET", "GET") and int(argument) in memo:
            strings.append(memo[int(argument)])
        pushed = str(argument) if "UNICODE" in opcode.name or "STRING" in opcode.name \
            else None
        if pushed is not None:
            strings.append(pushed)
    return names
