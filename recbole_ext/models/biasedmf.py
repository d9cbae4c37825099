"""BiasedMF: biased matrix factorisation for explicit rating prediction.

Source: the Keras matrix-factorisation tutorial on MovieLens-100K (Keras, explicit ratings): user and
item embeddings (K = 200), dot product + user bias + item bias, global mean subtracted from the
ratings, L2-regularised embeddings, SGD, RMSE loss; and the classical biased MF of Koren, Bell and
Volinsky, "Matrix Factorization Techniques for Recommender Systems" (IEEE Computer 2009):
``r_hat(u, i) = mu + b_u + b_i + p_u . q_i``.

Differs from stock RecBole:
    - RecBole 1.2.1 has no explicit-rating MF (its general models rank items); this one trains on
      RecBole's rating-prediction path: ``input_type`` POINTWISE, ``LABEL_FIELD: rating``, no
      negative sampling, ``eval_args.mode: labeled``, metrics ``RMSE``/``MAE``.
    - The global mean ``mu`` is computed from the training ratings only (the dataset RecBole hands
      the model is the training split) and kept as a buffer, not learnt.

Differs from the paper / tutorial:
    - L2 has two forms: ``reg_weight`` penalises the embedding rows of each batch (Koren et al.,
      Funk-SVD style), RecBole's ``weight_decay`` penalises every parameter at every step (what a
      Keras ``embeddings_regularizer`` does to the whole matrix). The tutorial's L2 weight is not
      given; see ``configs/mf-keras-tutorial.yaml``.
    - Embeddings start from Normal(0, ``init_std``) (Keras' default is Uniform(-0.05, 0.05)).
"""

from __future__ import annotations

import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType
from torch import nn


class BiasedMF(GeneralRecommender):
    r"""``r_hat(u, i) = mu + b_u + b_i + p_u . q_i`` trained on squared error.

    NOTE:
        - ``mu`` is the mean rating of the training split, fixed (the tutorial subtracts it).
        - ``loss_type: RMSE`` minimises the square root of the batch MSE (the tutorial's loss);
          ``MSE`` the batch MSE. Both are the mean over the batch.
        - ``reg_weight`` and ``bias_reg_weight`` add
          ``mean_batch(reg_weight * (|p_u|^2 + |q_i|^2) + bias_reg_weight * (b_u^2 + b_i^2))``;
          ``bias_reg_weight: ~`` takes ``reg_weight`` (Surprise and Koren et al. tune them apart).
        - ``clip_predictions`` clips ``predict`` (evaluation) to the training ratings' range, as
          Surprise and LibRec do; training sees the raw scores. The tutorial does not clip.
    """

    loss_types = ("MSE", "RMSE")  # checked with the rest of the configuration before any data loads

    input_type = InputType.POINTWISE

    def __init__(self, config, dataset) -> None:
        super().__init__(config, dataset)
        self.label_field: str = config["LABEL_FIELD"]
        self.embedding_size: int = config["embedding_size"]
        self.reg_weight: float = config["reg_weight"]
        bias_reg_weight = config["bias_reg_weight"]
        self.bias_reg_weight: float = self.reg_weight if bias_reg_weight is None else bias_reg_weight
        self.init_std: float = config["init_std"]
        self.loss_type: str = config["loss_type"]
        if self.loss_type not in ("MSE", "RMSE"):
            raise ValueError(f"{type(self).__name__}: loss_type must be MSE or RMSE, not {self.loss_type!r}.")
        if self.label_field not in dataset.inter_feat:
            raise ValueError(
                f"{type(self).__name__} predicts explicit ratings: the label field {self.label_field!r} is not "
                "loaded (load_col inter needs it, and threshold must stay ~ so it is not binarised)."
            )

        self.user_embedding = nn.Embedding(self.n_users, self.embedding_size)  # p_u
        self.item_embedding = nn.Embedding(self.n_items, self.embedding_size)  # q_i
        self.user_bias = nn.Embedding(self.n_users, 1)  # b_u
        self.item_bias = nn.Embedding(self.n_items, 1)  # b_i
        self.clip_predictions: bool = config["clip_predictions"]
        ratings = dataset.inter_feat[self.label_field].float()
        self.register_buffer("global_mean", ratings.mean() if len(ratings) else torch.tensor(0.0))  # mu
        # the rating scale seen in training ([1, 5] for MovieLens): predictions are clipped to it
        self.register_buffer("rating_range", torch.stack([ratings.min(), ratings.max()]) if len(ratings)
                             else torch.tensor([float("-inf"), float("inf")]))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_embedding.weight, std=self.init_std)
        nn.init.normal_(self.item_embedding.weight, std=self.init_std)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        p_u = self.user_embedding(user)  # [B, K]
        q_i = self.item_embedding(item)  # [B, K]
        dot = (p_u * q_i).sum(dim=-1)  # [B]
        return self.global_mean + dot + self.user_bias(user).squeeze(-1) + self.item_bias(item).squeeze(-1)  # [B]

    def calculate_loss(self, interaction) -> torch.Tensor:
        user, item = interaction[self.USER_ID], interaction[self.ITEM_ID]  # [B], [B]
        label = interaction[self.label_field].float()  # [B]
        mse = torch.mean((self.forward(user, item) - label) ** 2)
        loss = torch.sqrt(mse) if self.loss_type == "RMSE" else mse
        return loss + self.l2_penalty(user, item)

    def l2_penalty(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of the weighted squared norms of the rows the batch uses."""
        factors = self.user_embedding(user).pow(2).sum(-1) + self.item_embedding(item).pow(2).sum(-1)  # [B]
        biases = self.user_bias(user).squeeze(-1).pow(2) + self.item_bias(item).squeeze(-1).pow(2)  # [B]
        return (self.reg_weight * factors + self.bias_reg_weight * biases).mean()

    def predict(self, interaction) -> torch.Tensor:
        scores = self.forward(interaction[self.USER_ID], interaction[self.ITEM_ID])  # [B]
        if self.clip_predictions:  # a rating outside the scale is never better than its bound
            scores = scores.clamp(self.rating_range[0], self.rating_range[1])
        return scores
