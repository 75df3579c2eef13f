"""Self-checks for the notebooks' exercises: each takes the learner's answer (often a
function) and raises ``AssertionError`` with a hint when it is wrong, or returns ``"correct"``.

They live here, not in the notebooks, so that the tests (``tests/test_selfcheck*.py``) can
feed each one a wrong answer and see it rejected. One module per notebook topic; every check
is importable from ``helpers.selfcheck`` itself. Nothing happens on import.
"""
from __future__ import annotations

from .statistics import *  # noqa: F401,F403  (notebook 11)
from .statistics import __all__ as _statistics
from .wiring import *  # noqa: F401,F403  (notebook 10)
from .wiring import __all__ as _wiring

__all__ = [*_statistics, *_wiring]
