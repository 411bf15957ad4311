"""The one exception type the CLI turns into a one-line message and exit code 2.

Anything a user can get wrong (a name, a value, a path) raises :class:`GenbenchError`
with a message that names the problem and what to do; everything else is a bug and keeps
its traceback.
"""


class GenbenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class TrainingDiverged(GenbenchError):
    """A loss became NaN or infinite: which one, where, and for which seed."""

    def __init__(self, loss: str, value: float, epoch: int, step: int, seed: int) -> None:
        super().__init__(f"seed {seed}: {loss} became {value} at epoch {epoch}, step {step}; the last good "
                         f"checkpoint is kept (try a lower learning rate)")
        self.loss, self.value, self.epoch, self.step, self.seed = loss, value, epoch, step, seed
