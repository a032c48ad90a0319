"""`python -m console.cli`, as the tests and benchmarks run it."""

from console.cli import main

main()
