"""`python -m desk ...`: the same as the `desk` command."""
from desk.cli import main

main()
