"""Finding the Definitions of a code location: import a module the way Dagster loads one."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from kubeasset.errors import CodeLocationLoadError
from kubeasset.sdk.assets_definition import AssetsDefinition
from kubeasset.sdk.definitions import Definitions
from kubeasset.sdk.error_info import qualified_type_name


def load_definitions(module: str, working_directory: str | os.PathLike[str] | None = None) -> Definitions:
    """Import ``module`` and return the one :class:`Definitions` object among its globals.

    The working directory (default: the current one) is put first on ``sys.path``, as Dagster does for
    a code location, so the user's modules import as they do when run from there.

    Raises :class:`kubeasset.errors.CodeLocationLoadError` naming the module when it cannot be imported
    (with the exception type, message and ``traceback_text``), or holds no, or several, Definitions
    objects (``candidates`` lists their names).

    Example::

        defs = load_definitions("my_pipelines.definitions", working_directory="/app")
    """
    given = os.fspath(working_directory) if working_directory is not None else os.getcwd()
    directory = os.path.abspath(given)
    if not os.path.isdir(directory):
        raise CodeLocationLoadError(
            f"cannot load module {module!r}: working directory {directory} does not exist",
            module=module,
            cause_type="NotADirectoryError",
        )
    if not sys.path or sys.path[0] != directory:
        sys.path.insert(0, directory)
    importlib.invalidate_caches()

    try:
        loaded = importlib.import_module(module)
    # Importing runs arbitrary user code: whatever it raises (syntax errors, a DefinitionError from a
    # module-level Definitions(...), sys.exit()) becomes one load error that keeps the traceback.
    except (Exception, SystemExit) as error:  # noqa: BLE001
        cause_type = type(error).__name__
        if (
            isinstance(error, ModuleNotFoundError)
            and error.name is not None
            and (module == error.name or module.startswith(error.name + "."))
        ):
            message = (
                f"cannot load module {module!r}: no module named {error.name!r} in working directory "
                f"{directory} or on the Python path; check the module name and the working directory"
            )
        else:
            message = f"cannot load module {module!r}: {qualified_type_name(error)}: {error}"
        raise CodeLocationLoadError(
            message,
            module=module,
            cause_type=cause_type,
            traceback_text="".join(traceback.format_exception(error)),
        ) from error

    found: dict[int, list[str]] = {}
    objects: dict[int, Definitions] = {}
    for name, value in vars(loaded).items():
        if isinstance(value, Definitions):
            found.setdefault(id(value), []).append(name)
            objects[id(value)] = value
    if len(objects) == 1:
        return next(iter(objects.values()))
    if not objects:
        assets = sorted(name for name, value in vars(loaded).items() if isinstance(value, AssetsDefinition))
        hint = f" (it has assets {', '.join(assets)})" if assets else ""
        raise CodeLocationLoadError(
            f"module {module!r} defines no Definitions object{hint}: add one at module level, e.g. "
            "defs = Definitions(assets=[...])",
            module=module,
        )
    names = tuple(sorted(" = ".join(names) for names in found.values()))
    raise CodeLocationLoadError(
        f"module {module!r} has {len(objects)} Definitions objects ({', '.join(names)}); "
        "keep exactly one at module level",
        module=module,
        candidates=names,
    )
