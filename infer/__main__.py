"""`python -m imgcheck.infer` runs the `imgcheck` command line."""

from imgcheck.infer.cli import main

main()
