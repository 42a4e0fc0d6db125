"""Random access to the frames of an extended-XYZ trajectory (such as `ace-lin md`'s).

index_frames scans only the frame headers (atom count and comment line) and keeps byte
offsets, so a long trajectory is not parsed whole; read_frame parses one frame with ASE.
"""
import io
from dataclasses import dataclass

from ase.io.extxyz import key_val_str_to_dict


class TrajectoryError(ValueError):
    """An unreadable trajectory or a selection/check it fails (one-line message)."""


@dataclass
class FrameHeader:
    index: int
    offset: int
    n_atoms: int
    info: dict


def index_frames(path):
    headers = []
    with open(path, "rb") as fh:
        while True:
            offset = fh.tell()
            line = fh.readline()
            if not line:
                break
            if not line.strip():
                continue
            try:
                n = int(line)
            except ValueError:
                raise TrajectoryError(f"{path}: frame {len(headers)} does not start with an atom "
                                      f"count (byte {offset})") from None
            comment = fh.readline()
            for _ in range(n):
                row = fh.readline()
                if not row.endswith(b"\n"):
                    raise TrajectoryError(f"{path}: frame {len(headers)} is cut short")
            try:
                info = key_val_str_to_dict(comment.decode().strip())
            except Exception as exc:  # ASE's parser raises several types
                raise TrajectoryError(f"{path}: frame {len(headers)}: bad comment line ({exc})") from None
            headers.append(FrameHeader(len(headers), offset, n, info))
    if not headers:
        raise TrajectoryError(f"{path}: no frames")
    return headers


def read_frame(path, header: FrameHeader):
    from ase.io import read

    with open(path, "rb") as fh:
        fh.seek(header.offset)
        fh.readline()
        comment = fh.readline()
        rows = [fh.readline() for _ in range(header.n_atoms)]
    text = f"{header.n_atoms}\n".encode() + comment + b"".join(rows)
    return read(io.StringIO(text.decode()), format="extxyz")
