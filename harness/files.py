"""Writing the harness's own output files so that concurrent writers and a full disk are safe.

Each write goes to a temporary file of its own in the destination's directory
(``tempfile``: a unique name, so two runs writing the same trace never share
one) and is renamed over the destination (``os.replace``: readers see the old
file or the new one, never a part).  Any OSError on the way (ENOSPC, EFBIG
under ``ulimit -f``, EROFS, EDQUOT) is one ``WriteError`` line: an
infrastructure failure, exit 3, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from harness.errors import WriteError

# mkstemp creates 0600; results are read by others (CI artefacts): the mode a
# plain open() would give.  Read once, at import, before any thread runs.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_error(path: Path, e: OSError) -> WriteError:
    return WriteError(f"cannot write {path}: {e.strerror or e}")


def write_atomic(path: Path, text: str) -> None:
    """PATH holds TEXT (UTF-8), or is unchanged and WriteError is raised."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException as e:  # a signal (harness.interrupt) mid-write leaves no temp file either
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(e, OSError):
            raise write_error(path, e) from None
        raise
