"""`python -m qa` runs the same command line as the `qa` console script."""

from qa.cli import main

main()
