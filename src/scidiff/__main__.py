"""`python -m scidiff` runs the command line."""

from ._cli import main

main()
