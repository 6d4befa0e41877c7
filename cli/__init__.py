"""The `claims` command line: run the product, start claims, decide them, inspect them."""
