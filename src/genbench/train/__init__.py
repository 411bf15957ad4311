"""Training loops, one per model family, each training several seeds at once."""
from genbench.train.gan import train_gan
from genbench.train.vae import train_vae

TRAINERS = {"vae": train_vae, "gan": train_gan}
