"""The numbers of Zhou et al. 2022 (MNRAS 512, 4593) that the pipeline compares itself with.

One home for the paper's published values (each with its PAPER_SPEC section): the metrics table
(:data:`PAPER_RESULTS`, Table 2), the training-set sizes of its three train:test ratios, the
parameter counts of its networks and the size of its selected sample. The summary writer
(:mod:`photoz.evaluate.summary`), the models (:mod:`photoz.models`) and the tests read them from here;
nothing else defines them again.
"""

from __future__ import annotations

#: The paper's results (Zhou et al. 2022, Table 2; PAPER_SPEC §6), keyed by training-set size.
#: Outlier fractions are fractions (1.43% -> 0.0143). The paper gives MAE only for 30k.
PAPER_RESULTS: dict[str, dict[str, dict[str, float]]] = {
    "30k": {
        "mlp": {"sigma_nmad": 0.023, "outlier_fraction": 0.0143, "mae": 0.029},
        "cnn": {"sigma_nmad": 0.025, "outlier_fraction": 0.0121, "mae": 0.029},
        "hybrid": {"sigma_nmad": 0.020, "outlier_fraction": 0.0103, "mae": 0.027},
        "hybrid_transfer": {"sigma_nmad": 0.020, "outlier_fraction": 0.0090, "mae": 0.025},
    },
    "20k": {
        "mlp": {"sigma_nmad": 0.026, "outlier_fraction": 0.0167},
        "cnn": {"sigma_nmad": 0.027, "outlier_fraction": 0.0151},
        "hybrid": {"sigma_nmad": 0.022, "outlier_fraction": 0.0125},
        "hybrid_transfer": {"sigma_nmad": 0.021, "outlier_fraction": 0.0106},
    },
    "10k": {
        "mlp": {"sigma_nmad": 0.028, "outlier_fraction": 0.0239},
        "cnn": {"sigma_nmad": 0.030, "outlier_fraction": 0.0198},
        "hybrid": {"sigma_nmad": 0.023, "outlier_fraction": 0.0129},
        "hybrid_transfer": {"sigma_nmad": 0.023, "outlier_fraction": 0.0129},
    },
}
#: train:test ratio of a run -> the paper's training-set size with that ratio (PAPER_SPEC §1).
RATIO_TO_PAPER_ROW: dict[str, str] = {"3:1": "30k", "1:1": "20k", "1:3": "10k"}
#: Training and test galaxies of each of the paper's runs (Sect. 4; PAPER_SPEC §1: of ~40,000
#: selected, 10,000 tested and ~30,000 trained; then 20,000 and 10,000 trained, "the rest tested").
#: 10% of each training set was held out for validation.
PAPER_SPLIT_SIZES: dict[str, dict[str, int]] = {
    "30k": {"train": 30_000, "test": 10_000},
    "20k": {"train": 20_000, "test": 20_000},
    "10k": {"train": 10_000, "test": 30_000},
}

#: Parameters of each network, BatchNorm running mean and variance included (the paper's Keras
#: counted them; Zhou et al. 2022, Sect. 4; PAPER_SPEC §4). The hybrid-transfer has the hybrid's graph.
PAPER_PARAMETER_COUNTS: dict[str, int] = {
    "mlp": 9881,
    "cnn": 38449,
    "hybrid": 89129,
    "hybrid_transfer": 89129,
}
#: Galaxies of the paper's selected sample ("about 40,000"; PAPER_SPEC §1).
PAPER_N_SELECTED = 40_000


def paper_row(ratio: str) -> str | None:
    """The paper's Table 2 row of a train:test ratio: ``"30k"``, ``"20k"``, ``"10k"`` or None.

    ``"6:2"`` is the paper's ``"3:1"``; a ratio the paper did not run (``"2:1"``) has no row.
    Malformed ratios are the config check's business (:func:`photoz.catalog.splits.parse_ratio`); here
    they have no row either.
    """
    import math

    try:
        a, b = (int(x) for x in str(ratio).strip().split(":"))
        g = math.gcd(a, b)
        key = f"{a // g}:{b // g}"
    except (ValueError, ZeroDivisionError):
        return None
    return RATIO_TO_PAPER_ROW.get(key)
