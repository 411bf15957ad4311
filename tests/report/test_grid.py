import numpy as np
import pytest
from PIL import Image

from genbench.report.grid import make_grid, save_image


def test_grid_places_each_image_in_its_tile():
    images = np.stack([np.full((1, 2, 3), v, dtype=np.float32) for v in (0.0, 0.5, 1.0)])
    grid = make_grid(images, nrow=2, padding=1, pad_value=7)
    # 2 columns x 2 rows of 2x3 tiles with 1-pixel borders: (2*3+1) x (2*4+1)
    assert grid.shape == (7, 9, 1)
    assert (grid[1:3, 1:4, 0] == 0).all() and (grid[1:3, 5:8, 0] == 128).all() and (grid[4:6, 1:4, 0] == 255).all()
    assert (grid[4:6, 5:8, 0] == 7).all()  # the missing fourth tile
    assert (grid[0, :, 0] == 7).all() and (grid[:, 4, 0] == 7).all()


def test_value_range_and_clipping():
    images = np.array([[[[-1.0, 0.0, 1.0, 3.0]]]])
    assert make_grid(images, padding=0, value_range=(-1, 1))[0, :, 0].tolist() == [0, 128, 255, 255]
    with pytest.raises(ValueError, match=r"expects \(N, C, H, W\)"):
        make_grid(np.zeros((2, 3)))


def test_save_image_writes_a_png(tmp_path):
    rgb = np.random.default_rng(0).random((5, 3, 4, 4))
    save_image(tmp_path / "g.png", rgb, nrow=5)
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "RGB" and im.size == (5 * (4 + 2) + 2, 4 + 2 + 2)  # (width, height)
