"""The contracts of the inputs and outputs (pandera), and how problems are reported.

Importing this package imports pandera's polars API, once, without its pandas API.
pandera's top-level package imports its deprecated pandas API whenever pandas is
installed: pandas itself, and PySpark's pandas API whenever PySpark is installed (the
spark extra). That cost about 0.6 s and 80 MB on every `personas` command, the help
included, for an API no contract here uses. So pandera is imported with pandas
hidden from it, and takes the path it has for installs without pandas; pandas stays
importable for everything else. A process that imported pandas before this package
(a notebook, a test) gets pandera whole, as does any process where the hidden import
fails: only the cost differs, never a contract.

"""

import importlib
import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class _PandasHidden(importlib.abc.MetaPathFinder):
    """An import finder under which pandas looks uninstalled."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            # The message pandera recognises as "pandas is not installed".
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _import_pandera_without_pandas() -> None:
    if "pandera" in sys.modules or "pandas" in sys.modules:
        return
    # polars first: it notes at import which optional libraries it can use, pandas too.
    importlib.import_module("polars")
    hidden = _PandasHidden()
    sys.meta_path.insert(0, hidden)
    try:
        importlib.import_module("pandera.polars")
        # pandera looks for pandas again when it first runs a check, and keeps the answer.
        checks = importlib.import_module("pandera.backends.register_checks")
        getattr(checks, "_load_get_backend_types_from_mro", lambda: None)()
    except Exception:
        # A pandera that cannot go without pandas: it is imported whole below.
        for name in [name for name in sys.modules if name.partition(".")[0] == "pandera"]:
            del sys.modules[name]
    finally:
        sys.meta_path.remove(hidden)
    importlib.import_module("pandera.polars")


_import_pandera_without_pandas()
