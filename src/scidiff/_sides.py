"""One ``(lower, upper)`` boundary condition per axis, from the forms users write.

Shared by ``scidiff.kernels`` (its ``bcs`` arguments) and ``scidiff.parallel`` (its
``boundary`` arguments), which take the same boundary objects; the core cannot import the
kernels, so the parsing lives here and each caller supplies how to read one condition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["sides_per_axis"]


def _is_pair(spec: Any) -> bool:
    return isinstance(spec, Sequence) and not isinstance(spec, str)


def sides_per_axis(
    spec: Any,
    ndim: int,
    convert: Callable[[Any], Any],
    is_periodic: Callable[[Any], bool],
    what: str = "grid",
) -> tuple[tuple[Any, Any], ...]:
    """``spec`` as one ``(lower, upper)`` pair of converted conditions per axis.

    ``spec`` is one condition for every side, one per axis, or one ``(lower, upper)`` pair
    per axis; with ``ndim == 1`` a bare pair of conditions is read as ``(lower, upper)``.
    ``convert`` turns one user-given condition into the caller's object (raising for an
    unknown one); ``is_periodic`` tells a periodic one.

    Raises:
        ValueError: the wrong number of axes, a per-side entry that is not a pair, or a
            periodic side opposite a non-periodic one.

    Example:
        >>> from scidiff._sides import sides_per_axis
        >>> sides_per_axis(("a", ("b", "c")), 2, str.upper, lambda s: s == "P")
        (('A', 'A'), ('B', 'C'))
    """
    if _is_pair(spec):
        per_axis = list(spec)
        if ndim == 1 and len(per_axis) == 2 and not any(_is_pair(s) for s in per_axis):
            per_axis = [tuple(per_axis)]
        if len(per_axis) != ndim:
            raise ValueError(
                f"Got boundary conditions for {len(per_axis)} axes but the {what} has {ndim}: "
                "give one condition, one per axis, or one (lower, upper) pair per axis."
            )
    else:
        per_axis = [spec] * ndim
    pairs = []
    for axis, one in enumerate(per_axis):
        if _is_pair(one):
            if len(one) != 2:
                raise ValueError(
                    f"Axis {axis}: a per-side specification is a (lower, upper) pair, got "
                    f"{len(one)} entries."
                )
            lo, hi = convert(one[0]), convert(one[1])
        else:
            lo = hi = convert(one)
        if is_periodic(lo) != is_periodic(hi):
            raise ValueError(
                f"Axis {axis}: Periodic must be set on both sides of an axis, got "
                f"{type(lo).__name__} and {type(hi).__name__}."
            )
        pairs.append((lo, hi))
    return tuple(pairs)
