"""workflow: approval-workflow engine with traffic-light deadline tracking."""

__version__ = "0.1.0"
