"""The names of the methods: the four networks, the classical peers, and how each is labelled.

The one owner of these names: the schema's enums (``train.networks``, ``peers``) are checked
against them by a test, the workflow builds its wildcard constraints from them
(``workflow/rules/common.smk``), and the tables and figures take their labels from here. No torch,
galsim or plotting import, so the Snakefile's parse pays nothing for it.
"""

from __future__ import annotations

#: The four networks of the paper (Zhou et al. 2022, Sect. 4), in the order of its tables and
#: figures: the MLP on fluxes, the inception CNN on stamps, the hybrid and the hybrid-transfer
#: network on both.
NETWORKS: tuple[str, ...] = ("mlp", "cnn", "hybrid", "hybrid_transfer")
#: The classical peer estimators (:mod:`photoz.peers.stage`), scored after the networks (no paper
#: row): scikit-learn's random forest and XGBoost (:mod:`photoz.peers.trees`), then RAIL's
#: FlexZBoost, KNearNeigh and BPZ (:mod:`photoz.peers.rail`).
PEERS: tuple[str, ...] = ("random_forest", "gradient_boosting", "flexzboost", "knn", "bpz")
#: The peers that run through RAIL (rule ``fit_rail_peer``); the others through rule ``fit_peer``.
RAIL_PEERS: tuple[str, ...] = ("flexzboost", "knn", "bpz")
#: The peers whose fit draws no random numbers (BPZ: template fitting with a fixed prior), which
#: the seeds benchmark (:mod:`photoz.benchmarks.seeds`) therefore fits once.
SEEDLESS_PEERS: tuple[str, ...] = ("bpz",)
#: Every method the summary can hold: the networks, then the peers.
METHODS: tuple[str, ...] = NETWORKS + PEERS
#: Display names of every method, for tables, figure legends and the report.
LABELS: dict[str, str] = {
    "mlp": "MLP",
    "cnn": "CNN",
    "hybrid": "Hybrid",
    "hybrid_transfer": "Hybrid-transfer",
    "random_forest": "Random forest (sklearn)",
    "gradient_boosting": "XGBoost",
    "flexzboost": "FlexZBoost (RAIL)",
    "knn": "KNearNeigh (RAIL)",
    "bpz": "BPZ templates (RAIL)",
}


def wildcard(names: tuple[str, ...]) -> str:
    """A Snakemake wildcard constraint matching exactly one of ``names``: ``"mlp|cnn|..."``."""
    return "|".join(names)
