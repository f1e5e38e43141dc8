"""Checked exercises: the student writes a function, :func:`check` says whether it is right.

In a notebook::

    def kl_diag(mu_q, logvar_q, mu_p, logvar_p):
        raise NotImplementedError          # your code here

    exercises.check("02.2", kl_diag)

:func:`check` calls the function on a few fixed test cases and compares each answer with the
library's own (the code the rest of the series runs). A loss the series trains is also checked for
a gradient: it must reach the inputs (or, for 06.2, the critic's weights) and equal the library's.
It prints one of

- ``not attempted yet`` (the stub still raises NotImplementedError): the notebook goes on;
- ``correct`` on all cases;
- ``not yet``: which case differs, what was expected, and a hint that answers the mistake it sees.

The hint never gives the formula. Each exercise knows its common mistakes (a sign, a factor 2,
swapped arguments, a wrong axis or reduction, a missing reshape, the form that overflows at extreme
inputs, no gradient path): the checker runs the known wrong variants on the same inputs, and when
the answer matches one it names that mistake with a question that nudges. An answer it does not
recognise gets the exercise's general nudge. The formula comes only when asked for::

    exercises.hint("04.1")              # what to think about (the general nudge)
    exercises.hint("04.1", level=2)     # the formula

:func:`check` returns True, False, or None (not attempted) and never raises, so a notebook with
untouched exercises still runs top to bottom under papermill and nbval. The solutions live apart,
in ``solutions/<notebook>.py``; ``tests/test_exercises.py`` checks that every solution is accepted,
that each recognised mistake is answered with its own nudge, and that no nudge holds the formula.

The package: :mod:`.checker` runs an answer against the cases and prints the report, :mod:`.mistakes` holds
the detectors and the mistakes every exercise recognises, and the ``catalogue_*`` modules hold the exercises
themselves, a few chapters each (what they share is in :mod:`.catalogue_common`). Importing the package
registers every exercise, in the order of the notebooks.
"""
from tutorial_lib.exercises.checker import (EXERCISES, Case, Exercise, add, case, check, diagnose, hint, hint_text,
                                            keys_for)
from tutorial_lib.exercises.mistakes import (GENERIC, Mistake, Trial, capped, either, like, no_gradient, nonfinite,
                                             raises, random_answer, scaled, swapped)
# importing the catalogues registers their exercises, in the order of the notebooks
from tutorial_lib.exercises import catalogue_01_03, catalogue_04_05, catalogue_06_07  # noqa: F401
from tutorial_lib.exercises import catalogue_08_09, catalogue_10_11  # noqa: F401

__all__ = ["EXERCISES", "Case", "Exercise", "Mistake", "Trial", "check", "diagnose", "hint", "hint_text", "keys_for"]
