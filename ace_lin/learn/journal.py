"""Append-only files that survive kill -9: each record is committed by an atomic rewrite
of a small index, so a crash mid-append loses at most the record being written and never
leaves a partial or doubled one.

Layout for FILE (e.g. labelled.extxyz): FILE holds the records' text back to back, and
FILE.index.json = {"bytes": committed length of FILE, "keys": [key of each record]}. On
opening, FILE is truncated to the committed length (a record appended but not committed
is dropped; its key is not in the index, so it is done again).
"""
import io
import json
import os
from typing import Hashable, List

from ace_lin.io.atomic import atomic_write


def _key(k):
    return tuple(k) if isinstance(k, list) else k


class Journal:
    """Records with unique keys, appended in order; `keys` lists the committed ones."""

    def __init__(self, path: str):
        self.path = path
        self.index_path = path + ".index.json"
        self.keys: List[Hashable] = []
        committed = 0
        if os.path.exists(self.index_path):
            with open(self.index_path) as fh:
                try:
                    idx = json.load(fh)
                    committed, self.keys = int(idx["bytes"]), [_key(k) for k in idx["keys"]]
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{self.index_path}: unreadable journal index ({exc})") from None
        size = os.path.getsize(path) if os.path.exists(path) else 0
        if size < committed:
            raise ValueError(f"{path}: shorter ({size} bytes) than its committed length "
                             f"({committed}); the file was changed outside ace_lin")
        with open(path, "ab") as fh:
            fh.truncate(committed)
        self._bytes = committed
        self._seen = set(self.keys)

    def __contains__(self, key) -> bool:
        return _key(key) in self._seen

    def __len__(self) -> int:
        return len(self.keys)

    def append(self, key, text: str) -> None:
        key = _key(key)
        if key in self._seen:
            raise ValueError(f"{self.path}: record {key!r} is already there")
        data = text.encode()
        with open(self.path, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self.keys.append(key)
        self._seen.add(key)
        self._bytes += len(data)
        atomic_write(self.index_path, json.dumps({"bytes": self._bytes,
                                                  "keys": [list(k) if isinstance(k, tuple) else k
                                                           for k in self.keys]}).encode(),
                     "journal index")


def extxyz_text(atoms) -> str:
    """One frame as extended-XYZ text (energy, forces, stress from the attached calculator)."""
    from ase.io import write

    buf = io.StringIO()
    write(buf, atoms, format="extxyz")
    return buf.getvalue()
