"""Dataset roots given as settings: ``${VAR}`` and ``${VAR:-default}`` expand from the environment.

Real datasets are never shipped; configs and scenarios name where the user keeps them, usually
through an environment variable with a default, e.g. ``root: ${CAMVID_ROOT:-../shared/datasets/camvid}``.

Example
-------
>>> import os; os.environ["DATA"] = "/data"
>>> expand_root("${DATA}/camvid"), expand_root("${NOT_SET_ANYWHERE:-here}")
('/data/camvid', 'here')
"""

from __future__ import annotations

import os
import re

from gosvae.errors import UserError

__all__ = ["expand_root"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_root(value: str, *, field: str = "root") -> str:
    """``value`` with every ``${VAR}`` / ``${VAR:-default}`` replaced; an unset variable without a
    default → :class:`UserError` naming ``field`` and the variable."""

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found:
            return found
        if default is not None:
            return default
        raise UserError(f"{field}: environment variable {name} is not set (it names the dataset folder)")

    return _VARIABLE.sub(substitute, value)
