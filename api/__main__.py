"""`python -m imgcheck` runs the `imgcheck` command line; `torchrun ... -m imgcheck train ...` trains on several
processes (docs/train.md)."""

from imgcheck.infer.cli.root import main

main()
