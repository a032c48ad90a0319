"""`python -m console.app.cli`, as the tests and benchmarks run it."""

from console.app.cli import main

main()
