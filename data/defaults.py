"""The image source's defaults: what ``python train.py`` trains on when nothing is given.

Kept free of imports so that the command line shows them in ``--help`` without loading torch.
"""

from pathlib import Path

DEFAULT_IMAGE = Path(__file__).resolve().parent / "cat_lion.png"  # the paper's Fig. 1 (data/make_cat_lion.py)
DEFAULT_LABELS = "background=#2f4f2f,cat=#8c8c8c,lion=#d2a03c"  # the colours make_cat_lion.py draws with
DEFAULT_CLASSES = 3  # any other image without labels: this many k-means colours of its own
DEFAULT_SIGMA = 0.1  # colour std of the Gaussian data term, RGB in [0, 1]
DEFAULT_BETA = 2.0  # Potts weight per disagreeing 4-neighbour pair
DEFAULT_MAX_SIZE = 512  # longer side of the grid, in pixels: photos are worked at their own size up to this (an image; --unary arrays are never resized)

# a data term of your own (--unary): per-pixel probabilities, logits or energies in an H × W × c array
UNARY_KINDS = ("probabilities", "logits", "energies")
PROBABILITY_FLOOR = 1e-6  # probabilities become −log max(p, floor): a zero costs at most −log 1e-6 ≈ 13.8
PROBABILITY_TOLERANCE = 1e-3  # each pixel's probabilities must sum to 1 within this
# edges that follow the image (--contrast σ): w_pq = β·max(floor, exp(−‖I_p − I_q‖²/(2σ²)))
DEFAULT_CONTRAST_FLOOR = 0.1  # an edge keeps at least this fraction of β (as benchmarks/exact_suite_images.py)
