"""The four networks of Zhou et al. 2022 (MNRAS 512, 4593), Sect. 4, as pure ``nn.Module`` s.

- :mod:`~photoz.models.mlp`: the MLP on the 20 flux features (paper Fig. 5 top);
- :mod:`~photoz.models.cnn`: the inception CNN on 7 x 32 x 32 stamps;
- :mod:`~photoz.models.hybrid`: the hybrid and hybrid-transfer networks (both inputs);
- :mod:`~photoz.models.build`: ``build_model(name)`` and ``count_parameters``, which counts them the
  way the paper's Keras did (BatchNorm running mean and variance included): 9,881 / 38,449 / 89,129
  (trainable 9,481 / 37,809 / 87,129; the frozen hybrid-transfer trains 44,561).

No training code here (the lightning-hydra-template split): the loop is :mod:`photoz.train.loop`.
"""
