"""`python -m workflow`: the same command line as `workflow`."""

from workflow.cli import main

main()
