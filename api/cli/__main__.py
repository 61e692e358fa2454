"""`python -m api.cli`: the `kumo` command without the console script."""

from api.cli import main

main()
