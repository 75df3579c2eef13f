"""Self-checks for the notebooks' exercises: each takes the learner's answer (often a
function) and raises ``AssertionError`` with a hint when it is wrong, or returns ``"correct"``.

They live here, not in the notebooks, so that the tests (``tests/test_selfcheck*.py``) can
feed each one a wrong answer and see it rejected. One module per notebook topic; every check
is importable from ``helpers.selfcheck`` itself. Nothing happens on import.
"""
from __future__ import annotations

from .attacks import *  # noqa: F401,F403  (notebook 02)
from .attacks import __all__ as _attacks
from .basics import *  # noqa: F401,F403  (notebooks 00 and 01)
from .basics import __all__ as _basics
from .certainty import *  # noqa: F401,F403  (notebook 06)
from .certainty import __all__ as _certainty
from .few_pixels import *  # noqa: F401,F403  (notebook 03)
from .few_pixels import __all__ as _few_pixels
from .norms import *  # noqa: F401,F403  (notebooks 04 and 05)
from .norms import __all__ as _norms
from .routing import *  # noqa: F401,F403  (notebooks 08 and 09)
from .routing import __all__ as _routing
from .statistics import *  # noqa: F401,F403  (notebook 11)
from .statistics import __all__ as _statistics
from .training_set import *  # noqa: F401,F403  (notebook 07)
from .training_set import __all__ as _training_set
from .wiring import *  # noqa: F401,F403  (notebook 10)
from .wiring import __all__ as _wiring

__all__ = [*_attacks, *_basics, *_certainty, *_few_pixels, *_norms, *_routing, *_statistics, *_training_set, *_wiring]
