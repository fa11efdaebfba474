"""Errors the library raises; the CLI turns each into one line and exit status 1."""


class WorkflowError(Exception):
    """A refusal a user can act on: the message is one line and names what was wrong."""


class NotFound(WorkflowError):
    """An unknown project, permit, actor, notice or permit type."""


class InvalidMove(WorkflowError):
    """An event that the lifecycle does not allow from the permit's current state."""


class NotAllowed(WorkflowError):
    """The actor's role or department does not permit this action."""


class Conflict(WorkflowError):
    """Someone else changed the record first (stale version); nothing was written."""


class BadData(WorkflowError):
    """Malformed input: a date, a number, a file, a policy."""


class PolicyError(BadData):
    """A policy file that does not validate; the message names the file and the key."""


class DatabaseUnavailable(WorkflowError):
    """The database cannot be reached; the message never carries credentials."""
