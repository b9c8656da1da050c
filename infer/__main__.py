"""`python -m imgcheck.infer` runs the `imgcheck` command line."""

from imgcheck.infer.cli.root import main

main()
