"""Map two source trees onto one import package: src/scidiff -> scidiff, kernels/ -> scidiff.kernels."""

from setuptools import find_packages, setup

core = find_packages("src", include=["scidiff", "scidiff.*"])
kernels = ["scidiff.kernels"] + [f"scidiff.kernels.{p}" for p in find_packages("kernels")]
package_dir = {"scidiff": "src/scidiff", "scidiff.kernels": "kernels"}
package_dir.update({p: "kernels/" + p[len("scidiff.kernels."):].replace(".", "/") for p in kernels[1:]})

setup(packages=core + kernels, package_dir=package_dir)
