"""The one exception type that the CLI turns into a one-line message and a non-zero exit."""


class UserError(Exception):
    """A problem the user can fix: bad spec, missing data, unknown experiment, corrupt result file."""
