"""The one exception type the CLI turns into a one-line message and exit code 2.

Anything a user can get wrong (a name, a value, a path) raises :class:`GenbenchError`
with a message that names the problem and what to do; everything else is a bug and keeps
its traceback.
"""


class GenbenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""
