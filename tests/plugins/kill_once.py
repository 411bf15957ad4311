"""Test plugin: a VAE whose training process kills itself (SIGKILL, no cleanup) once,
when its third epoch begins, so a cluster executor's retry is tested against a real dead
process. The marker file, named by the model's ``marker`` parameter, records that the
kill happened; a run that finds it trains as an ordinary ``mlp-vae``."""
import os
import signal
from pathlib import Path

import genbench
from genbench.models.mlp_vae import MLPVAE
from genbench.train.vae import VAETrainer

KILL_AT_EPOCH = 2  # epochs done (and checkpointed) when the process dies


class KillOnceVAE(MLPVAE):
    trainer = "kill-once"

    def __init__(self, data_shape, marker: str = "", hidden: int = 32, n_res: int = 1):
        super().__init__(data_shape, hidden=hidden, n_res=n_res)
        self.marker = marker


class KillOnceTrainer(VAETrainer):
    def run_epoch(self):
        marker = Path(self.models[0].marker)
        if self.epoch == KILL_AT_EPOCH and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().run_epoch()


genbench.register_model("kill-once-vae", KillOnceVAE, example_shape=(2,),
                        description="mlp-vae whose process kills itself once (tests)")
genbench.register_trainer("kill-once", KillOnceTrainer)
