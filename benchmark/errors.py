"""User-facing errors: one line that names the problem and the fix (the CLI exits with code 2)."""


class NasBenchError(Exception):
    """Bad input or an impossible setting. The message is one line: what is wrong, then how to fix it."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} -- {fix}" if fix else problem)
