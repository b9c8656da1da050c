"""One module per `imgcheck` command; each is imported only when its command runs."""
