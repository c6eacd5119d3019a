"""The image source's defaults: what ``python train.py`` trains on when nothing is given.

Kept free of imports so that the command line shows them in ``--help`` without loading torch.
"""

from pathlib import Path

DEFAULT_IMAGE = Path(__file__).resolve().parent / "cat_lion.png"  # the paper's Fig. 1 (data/make_cat_lion.py)
DEFAULT_LABELS = "background=#2f4f2f,cat=#8c8c8c,lion=#d2a03c"  # the colours make_cat_lion.py draws with
DEFAULT_CLASSES = 3  # any other image without labels: this many k-means colours of its own
DEFAULT_SIGMA = 0.1  # colour std of the Gaussian data term, RGB in [0, 1]
DEFAULT_BETA = 2.0  # Potts weight per disagreeing 4-neighbour pair
DEFAULT_MAX_SIZE = 64  # longer side of the training grid, in pixels
