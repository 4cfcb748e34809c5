"""Nonlinear equations: root finding (Newton, Broyden, bisection) and fixed points, with
gradients by the implicit function theorem."""
