"""DeepMF: the deep variant of the Keras MF tutorial, with optional user side features.

Source: the Keras matrix-factorisation tutorial on MovieLens-100K (Keras, explicit ratings): concat
``[p_u, q_i, b_u, b_i]`` -> Dense 2048 -> Dense 256 -> Dense 1 with linear activations, 65 epochs,
batch 512 (test RMSE 0.943); the same with the user's occupation (from ``u.user``) embedded in 3
dimensions and concatenated (test RMSE 0.944).

Differs from stock RecBole:
    - RecBole's NeuMF / DMF rank items from implicit feedback; this model regresses explicit
      ratings on RecBole's rating-prediction path (see :mod:`recbole_ext.models.biasedmf`).
    - ``user_side_features`` embeds token columns of the ``.user`` file (``load_col`` must load
      them) and concatenates them to the input of the dense layers.

Differs from the paper / tutorial:
    - The dense layers start from PyTorch's default initialisation (Keras: Glorot uniform).
    - The output adds the training mean ``mu`` (the tutorial subtracts it from the ratings: the
      same model).
"""

from __future__ import annotations

import torch
from recbole.model.layers import MLPLayers
from recbole.utils import FeatureType
from torch import nn

from recbole_ext.models.biasedmf import BiasedMF

# mlp_activation -> RecBole's activation_layer name ("linear": no activation, as in the tutorial)
ACTIVATIONS = {"linear": "none", "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "leakyrelu": "leakyrelu"}


class DeepMF(BiasedMF):
    r"""``r_hat(u, i) = mu + MLP([p_u, q_i, b_u, b_i, e_1(f_1(u)), ...])``.

    NOTE:
        - The embeddings and biases are :class:`BiasedMF`'s (same names, same ``reg_weight``
          penalty); the dot product is replaced by the dense layers ``mlp_hidden_size`` -> 1.
        - ``mlp_activation`` follows every hidden layer, never the output layer.
        - Each side feature ``f`` of ``user_side_features`` is a token column of the ``.user`` file;
          users without a row get RecBole's padding token (its own embedding row).
    """

    def __init__(self, config, dataset) -> None:
        super().__init__(config, dataset)
        self.mlp_hidden_size: list[int] = list(config["mlp_hidden_size"])
        self.dropout_prob: float = config["dropout_prob"]
        self.mlp_activation: str = config["mlp_activation"]
        self.user_side_features: list[str] = list(config["user_side_features"] or [])
        self.side_embedding_size: int = config["side_embedding_size"]
        if self.mlp_activation not in ACTIVATIONS:
            raise ValueError(f"DeepMF: mlp_activation must be one of {sorted(ACTIVATIONS)}, not {self.mlp_activation!r}.")

        self.side_embeddings = nn.ModuleDict()
        for field in self.user_side_features:
            check_user_token_field(dataset, field)
            # [n_users] token of each user (row = RecBole's internal user id)
            self.register_buffer(f"user_{field}", dataset.get_user_feature()[field].long().clone())
            self.side_embeddings[field] = nn.Embedding(dataset.num(field), self.side_embedding_size)
            nn.init.normal_(self.side_embeddings[field].weight, std=self.init_std)

        input_size = 2 * self.embedding_size + 2 + len(self.user_side_features) * self.side_embedding_size
        self.mlp = MLPLayers([input_size, *self.mlp_hidden_size], self.dropout_prob, ACTIVATIONS[self.mlp_activation])
        self.output_layer = nn.Linear(self.mlp_hidden_size[-1] if self.mlp_hidden_size else input_size, 1)

    def features(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        parts = [
            self.user_embedding(user),  # [B, K]
            self.item_embedding(item),  # [B, K]
            self.user_bias(user),  # [B, 1]
            self.item_bias(item),  # [B, 1]
        ]
        for field, embedding in self.side_embeddings.items():
            parts.append(embedding(getattr(self, f"user_{field}")[user]))  # [B, S]
        return torch.cat(parts, dim=-1)  # [B, 2K + 2 + F*S]

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        hidden = self.mlp(self.features(user, item))  # [B, H_last]
        return self.global_mean + self.output_layer(hidden).squeeze(-1)  # [B]


def check_user_token_field(dataset, field: str) -> None:
    """``field`` must be a loaded token column of the ``.user`` file."""
    user_feat = dataset.user_feat
    if user_feat is None or field not in user_feat:
        raise ValueError(
            f"DeepMF: user side feature {field!r} is not loaded; add it to load_col "
            f"(e.g. load_col: {{inter: [user_id, item_id, rating], user: [user_id, {field}]}}) "
            f"and make sure the dataset has a .user file."
        )
    if dataset.field2type[field] != FeatureType.TOKEN:
        raise ValueError(f"DeepMF: user side feature {field!r} must be a token column, not {dataset.field2type[field]}.")
