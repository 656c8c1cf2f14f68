"""The tree peers: scikit-learn's random forest and XGBoost on magnitudes and colours.

Both regress the redshift on 7 magnitudes + 6 adjacent colours (:func:`tree_features`), with
non-detections at the band's 1-sigma limit, as FlexZBoost sees them (:mod:`photoz.peers.stage`).
"""

from __future__ import annotations

import numpy as np


def tree_features(mag: np.ndarray, nondetected: np.ndarray, limits_1sigma) -> np.ndarray:
    """The tree peers' inputs: 7 magnitudes and 6 adjacent colours, non-detections at the limit.

    Parameters
    ----------
    mag : ndarray, shape (n, 7), AB mag
    nondetected : ndarray of bool, shape (n, 7)
    limits_1sigma : array_like, shape (7,), AB mag

    Returns
    -------
    ndarray, shape (n, 13)
        ``mag_NUV ... mag_y`` then ``NUV-u, u-g, g-r, r-i, i-z, z-y`` (the colours a
        FlexZBoost model of RAIL builds, ``make_color_data``).
    """
    m = np.where(nondetected, np.asarray(limits_1sigma, dtype=float), mag)
    return np.concatenate([m, m[:, :-1] - m[:, 1:]], axis=1)


def fit_random_forest(x_train, z_train, x_pred, *, n_estimators: int, min_samples_leaf: int,
                      seed: int, threads: int):
    """scikit-learn random forest regression of z on the tree features.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_feat); z_train : ndarray, shape (n_train,)
    x_pred : ndarray, shape (n_pred, n_feat)
    n_estimators, min_samples_leaf : int
        ``RandomForestRegressor`` options (Breiman 2001).
    seed, threads : int

    Returns
    -------
    z_pred : ndarray, shape (n_pred,)
    model : sklearn.ensemble.RandomForestRegressor
    """
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf,
                                  random_state=seed, n_jobs=threads)
    model.fit(x_train, z_train)
    return model.predict(x_pred), model


def fit_gradient_boosting(x_train, z_train, x_pred, *, n_estimators: int, learning_rate: float,
                          max_depth: int, seed: int, threads: int):
    """XGBoost gradient-boosted trees (Chen & Guestrin 2016), squared error, on the tree features.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_feat); z_train : ndarray, shape (n_train,)
    x_pred : ndarray, shape (n_pred, n_feat)
    n_estimators : int
        Boosting rounds.
    learning_rate : float
    max_depth : int
    seed, threads : int

    Returns
    -------
    z_pred : ndarray, shape (n_pred,)
    model : xgboost.XGBRegressor
    """
    from xgboost import XGBRegressor

    model = XGBRegressor(n_estimators=n_estimators, learning_rate=learning_rate,
                         max_depth=max_depth, random_state=seed, n_jobs=threads,
                         tree_method="hist")
    model.fit(x_train, z_train)
    return model.predict(x_pred).astype(float), model
