"""A fifth stack, small and fake, written as a new stack is: its status side (facts, its
settings, its collectors) and its action side (its deploy) in its own files, registered by
one line per registry (tests/unit/test_fifth_stack.py)."""
