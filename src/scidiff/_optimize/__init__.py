"""Unconstrained minimisation (on optax) and nonlinear least squares, with argmin
gradients by the implicit function theorem."""
