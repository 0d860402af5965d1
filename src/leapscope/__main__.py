"""``python -m leapscope``: the command line (the same as the ``leapscope`` script)."""

from leapscope.cli import main

main()
