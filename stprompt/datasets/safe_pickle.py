"""Reading annotation pickles without running code.

``pickle.load`` on a file you did not write can run anything: a pickle names callables (the
``GLOBAL``/``STACK_GLOBAL``/``INST``/``OBJ`` and ``EXT*`` opcodes resolve them through
``find_class``) and ``REDUCE`` calls them. :func:`load_data_pickle` uses an unpickler whose
``find_class`` refuses every global and whose ``persistent_load`` refuses every persistent id, so
the only objects a file can produce are the ones the opcodes build directly: ``dict``, ``list``,
``tuple``, ``set``, ``str``, ``bytes``, ``int``, ``float``, ``bool``, ``None``. ``REDUCE``/``BUILD``
then have nothing to call.

That is all the pickles this suite reads need:

- Liu & Ma's ``Test_annotation.pkl`` / ``Train_annotation.pkl`` (protocol 0 written by Python 2:
  ``MARK DICT PUT STRING LIST APPEND INT SETITEM STOP``, and in the train file ``UNICODE``; both
  string opcodes load as ``str``; :file:`REAL_FORMATS.md` section 2);
- SynthVAD's copy of that format (``annotations/boxes_liu_ma.pkl``, protocol 4, the same plain
  types).

UBnormal's ``scripts/object_names_per_video.pkl`` would need ``numpy`` scalar reconstruction
(``numpy.core.multiarray.scalar``) and ``collections.defaultdict``; the suite does not read it (the
object names are not used by any table), so nothing is allowed for it.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from .records import DatasetError


class RefusedPickle(DatasetError):
    """A pickle asked for a callable or a persistent object: it was not loaded."""


class _DataOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, source: str):
        # py2 protocol-0 STRING opcodes hold bytes; Liu & Ma's are ASCII (REAL_FORMATS.md)
        super().__init__(file, encoding="ASCII")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - see module docstring
        raise RefusedPickle(f"{self._source}: refused to load: the pickle asks for {module}.{name}; "
                            f"annotation pickles may hold only dicts, lists, strings and numbers "
                            f"(nothing in the file was run)")

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102
        raise RefusedPickle(f"{self._source}: refused to load: the pickle holds a persistent id "
                            f"{pid!r} (nothing in the file was run)")


def load_data_pickle(path: str | Path) -> Any:
    """Unpickle ``path`` allowing only plain data (module docstring). Errors name the file:
    :class:`RefusedPickle` for a pickle that asks for code, :class:`DatasetError` for one that is
    truncated or not a pickle."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: pickle not found")
    data = path.read_bytes()
    try:
        return _DataOnlyUnpickler(io.BytesIO(data), str(path)).load()
    except RefusedPickle:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
            UnicodeDecodeError, MemoryError, OverflowError) as exc:
        raise DatasetError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from exc
