"""CaserPaper: Caser with the paper's and the d2l chapter's output head, windows and training.

Source: Jiaxi Tang and Ke Wang, "Personalized Top-N Sequential Recommendation via Convolutional
Sequence Embedding", WSDM 2018 (reference code graytowne/caser_pytorch), and the d2l.ai chapter
"Sequence-Aware Recommender Systems" (Caser on MovieLens-100K). The last ``L`` items of a user go
through a vertical convolution (``nv`` filters of L x 1) and horizontal convolutions (``nh``
filters of each height h = 1..L, ReLU, max-pool over time); the concatenation goes through dropout
and a fully connected layer with ReLU to ``z`` (k); the score of item i is
``y_i = V_i . [z, p_u] + b_i`` with a *separate* output item embedding ``V`` (n x 2k) and an item
bias ``b``. Training samples are every window of ``L`` consecutive training items with the next
``T`` items as targets (:mod:`recbole_ext.data.windows`), each target with negatives drawn from
the items the user never interacted with in training (:mod:`recbole_ext.data.sampling`).

Differs from stock RecBole (``recbole.model.sequential_recommender.caser.Caser``):
    - scores with ``V`` and ``b`` over ``[z, p_u]``; stock scores with the *input* item embedding
      over ``fc2([z, p_u])`` (its ``fc2`` is dropped here);
    - trains on sliding windows with ``n_targets`` (T) targets and sampled negatives (BPR or BCE);
      stock trains on RecBole's prefix rows with one target and CE by default;
    - ``horizontal_conv`` / ``vertical_conv`` switch either part off (stock crashes with nh or nv
      = 0: it concatenates ``None``);
    - histories shorter than L are right-aligned (padding first, the latest item last, as in the
      training windows and caser_pytorch); RecBole hands them left-aligned;
    - ``init_std`` set: every weight Normal(0, init_std), every bias 0 (d2l's ``Normal(0.01)``);
    - ``reg_weight`` is not used: L2 comes from the optimizer's ``weight_decay`` (d2l, caser_pytorch).

Differs from the paper:
    - L is ``MAX_ITEM_LIST_LENGTH`` (RecBole's evaluation hands the model that many latest items);
    - the paper's activation choices (identity for conv, sigmoid for z) are the d2l / caser_pytorch
      defaults here: ReLU on the horizontal convolutions and on ``z``, identity on the vertical one.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from recbole.model.sequential_recommender.caser import Caser
from recbole.utils import InputType
from torch import nn
from torch.nn import functional as F

from recbole_ext.models import losses
from recbole_ext.models.parent import ParentConfig
from recbole_ext.data.sampling import NegativeArgs
from recbole_ext.data.user_sequences import right_align
from recbole_ext.data.windows import WindowDataLoader
from recbole_ext.models.layers import Dropout

LOSSES = ("BPR", "BCE", "CE")
# The horizontal convolutions run as one product with a [L k, nh L (L + 1) / 2] matrix of the filters while
# it has at most this many entries (L 5, k 100, nh 16: 120,000); longer windows are unfolded per height.
PRODUCT_FORM_MAX_ENTRIES = 2_000_000



class CaserPaper(Caser):
    r"""Caser scoring ``V_i . [z, p_u] + b_i``, trained on sliding windows with sampled negatives.

    NOTE:
        - ``loss_type`` BPR (d2l): :func:`recbole_ext.models.losses.bpr`, mean over every (target,
          negative) pair of ``-log sigmoid(y_pos - y_neg)``; BCE (paper, Eq. 14):
          :func:`recbole_ext.models.losses.sampled_bce`, ``-log sigmoid(y_pos) - sum_k log(1 -
          sigmoid(y_neg_k))`` averaged over targets (caser_pytorch averages the negative term
          over the k negatives instead of summing it); CE (not the paper's: what stock Caser
          and "SASRec with CE" train with): :func:`recbole_ext.models.losses.chunked_softmax_ce`, a
          softmax of the paper's scores ``y`` over all items, one per window shared by its T
          targets, averaged over targets; no negatives are sampled (``train_neg_sample_args: ~``).
        - Training batches come from :class:`recbole_ext.data.windows.WindowDataLoader`
          (``train_loader_class``): ``item_id_list`` [B, L] windows, ``item_id`` [B, T] targets,
          ``neg_item_id`` [B, T, k] negatives (``train_neg_sample_args.sample_num`` = k). A stock
          RecBole pairwise batch ([B] targets, [B] negatives) is accepted too (T = k = 1).
        - Windows and RecBole's ``item_id_list`` are left-aligned; the model right-aligns them.
        - Either convolution can be switched off; then ``z`` is computed from the other alone.
    """

    loss_types = LOSSES  # checked with the rest of the configuration before any data loads

    input_type = InputType.PAIRWISE  # targets with sampled negatives, whatever the loss
    train_loader_class = WindowDataLoader  # recbole_ext.training.pipeline swaps RecBole's loader for it

    def __init__(self, config: Any, dataset: Any) -> None:
        loss_type = config["loss_type"]
        if loss_type not in LOSSES:
            raise ValueError(f"CaserPaper: loss_type must be one of {LOSSES}, not {loss_type!r}.")
        self.use_vertical: bool = bool(config["vertical_conv"])
        self.use_horizontal: bool = bool(config["horizontal_conv"])
        if not (self.use_vertical or self.use_horizontal):
            raise ValueError("CaserPaper: vertical_conv and horizontal_conv cannot both be False.")
        if loss_type != "CE" and not NegativeArgs.of(config).sample_num:
            raise ValueError(f"CaserPaper: loss_type {loss_type} needs train_neg_sample_args with sample_num >= 1 "
                             "(or loss_type CE, which samples none).")
        # Caser.__init__ only knows BPR / CE; its loss module is not used here.
        super().__init__(ParentConfig(config, {"loss_type": "BPR"}), dataset)
        self.loss_type: str = loss_type
        self.n_targets: int = config["n_targets"]
        self.init_std: float | None = config["init_std"]
        k = self.embedding_size

        del self.fc2, self.loss_fct, self.reg_loss  # the paper's head replaces fc2
        if not self.use_vertical:
            self.conv_v, self.fc1_dim_v = None, 0
        if not self.use_horizontal:
            self.conv_h, self.fc1_dim_h = None, 0
        self.fc1 = nn.Linear(self.fc1_dim_v + self.fc1_dim_h, k)  # -> z
        self.output_embedding = nn.Embedding(self.n_items, 2 * k)  # V
        self.output_bias = nn.Embedding(self.n_items, 1)  # b
        self.dropout = Dropout(self.dropout_prob)  # nn.Dropout's numbers, a faster mask on the CPU
        length = self.max_seq_length  # M is [L k, nh L (L + 1) / 2]
        self.horizontal_as_product = length * self.embedding_size * self.n_h * length * (length + 1) // 2 \
            <= PRODUCT_FORM_MAX_ENTRIES
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.init_std is None:  # RecBole's Caser init; V like the input embeddings, b = 0
            self.apply(self._init_weights)
            nn.init.normal_(self.output_embedding.weight, 0.0, 1.0 / self.output_embedding.embedding_dim)
            nn.init.zeros_(self.output_bias.weight)
        else:  # d2l: every weight Normal(0, init_std), every bias 0
            for name, parameter in self.named_parameters():
                if name.endswith("bias"):
                    nn.init.zeros_(parameter)
                else:
                    nn.init.normal_(parameter, 0.0, self.init_std)
        with torch.no_grad():  # padding item 0 feeds zeros into the convolutions
            self.item_embedding.weight[0].zero_()

    def forward(self, user: torch.Tensor, item_seq: torch.Tensor) -> torch.Tensor:
        """``[z, p_u]`` [B, 2k] for right-aligned windows ``item_seq`` [B, L] (0 = padding).

        The convolutions are computed as matrix products with the ``conv_v`` / ``conv_h``
        weights (the same numbers as ``nn.Conv2d``; on CPU, oneDNN's convolution with one input
        channel was ~20x slower than these products for the d2l sizes). Every horizontal filter at
        every position is one column of a single product ``emb [B, L k] @ M [L k, C]``, ``M`` holding
        the filters' weights at their offsets (:meth:`horizontal_filter_matrix`), then ReLU and the
        max over each height's positions: 2x the multiply-adds of unfolding the windows per height,
        but one product and no unfold backward (forward and backward 20 against 35-40 ms at ML-1M's
        sizes: batch 2048, L 5, k 100).
        """
        emb = self.item_embedding(item_seq)  # [B, L, k]
        parts = []
        if self.use_vertical:  # d' filters of L x 1: weighted sums of the L item embeddings
            weight = self.conv_v.weight.view(self.n_v, -1)  # [nv, L]
            out_v = torch.einsum("cl,blk->bck", weight, emb) + self.conv_v.bias.view(1, -1, 1)  # [B, nv, k]
            parts.append(out_v.reshape(-1, self.fc1_dim_v))  # [B, nv * k]
        if self.use_horizontal and self.horizontal_as_product:  # d filters of h x k per height, in one product
            bias = torch.cat([conv.bias.repeat(self.max_seq_length - conv.kernel_size[0] + 1) for conv in self.conv_h])
            conv_out = self.ac_conv(torch.addmm(bias, emb.reshape(emb.size(0), -1), self.horizontal_filter_matrix()))
            for columns in conv_out.split([self.n_h * (self.max_seq_length - conv.kernel_size[0] + 1)
                                           for conv in self.conv_h], dim=1):  # [B, (L - h + 1) nh] per height
                parts.append(columns.view(emb.size(0), -1, self.n_h).amax(dim=1))  # [B, nh]: max over time
        elif self.use_horizontal:  # d filters of h x k for each height h, ReLU, max over time
            for conv in self.conv_h:
                height = conv.kernel_size[0]
                windows = emb.unfold(1, height, 1).transpose(2, 3).flatten(2)  # [B, L - h + 1, h * k]
                conv_out = self.ac_conv(windows @ conv.weight.view(self.n_h, -1).T + conv.bias)  # [B, L - h + 1, nh]
                parts.append(conv_out.amax(dim=1))  # [B, nh]
        out = self.dropout(torch.cat(parts, dim=1))  # [B, nv * k + nh * L]
        z = self.ac_fc(self.fc1(out))  # [B, k]
        return torch.cat([z, self.user_embedding(user)], dim=1)  # [B, 2k]

    def horizontal_filter_matrix(self) -> torch.Tensor:
        """The horizontal filters as one matrix ``M`` [L k, C] for ``emb [B, L k] @ M``: column ``(h, t, f)``
        (heights h = 1..L in order, then positions t = 0..L - h, then filters) holds filter f of height h
        (its h x k weights) at rows ``t k .. (t + h) k - 1``, zeros elsewhere."""
        length, k = self.max_seq_length, self.embedding_size
        blocks = []
        for conv in self.conv_h:
            height = conv.kernel_size[0]
            weight = conv.weight.view(self.n_h, height * k).T  # [h k, nh]: row j k + c is offset j, channel c
            blocks += [F.pad(weight, (0, 0, t * k, (length - height - t) * k)) for t in range(length - height + 1)]
        return torch.cat(blocks, dim=1)  # [L k, C]

    def score(self, seq_output: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``V_i . [z, p_u] + b_i`` for ``items`` [B, ...] against ``seq_output`` [B, 2k] -> [B, ...]."""
        flat = items.reshape(items.size(0), -1)  # [B, M]
        v = self.output_embedding(flat)  # [B, M, 2k]
        scores = torch.bmm(v, seq_output.unsqueeze(2)).squeeze(2) + self.output_bias(flat).squeeze(2)  # [B, M]
        return scores.view(items.shape)

    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        seq_output = self.sequence_output(interaction)  # [B, 2k]
        pos_items = interaction[self.POS_ITEM_ID].reshape(seq_output.size(0), -1)  # [B, T]
        if self.loss_type == "CE":  # one softmax per window, shared by its T targets
            return losses.chunked_softmax_ce(seq_output, self.output_embedding.weight, pos_items, pos_items != 0,
                                             bias=self.output_bias.weight.squeeze(1))
        neg_items = interaction[self.NEG_ITEM_ID].reshape(pos_items.size(0), pos_items.size(1), -1)  # [B, T, N]
        pos_score = self.score(seq_output, pos_items)  # [B, T]
        neg_score = self.score(seq_output, neg_items)  # [B, T, N]
        return losses.sampled_loss(self.loss_type, pos_score, neg_score)

    def sequence_output(self, interaction: Any) -> torch.Tensor:
        """``[z, p_u]`` [B, 2k] for left-aligned ``item_id_list`` rows (windows, RecBole's rows)."""
        item_seq = right_align(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])  # [B, L]
        return self.forward(interaction[self.USER_ID], item_seq)

    def predict(self, interaction: Any) -> torch.Tensor:
        seq_output = self.sequence_output(interaction)  # [B, 2k]
        return self.score(seq_output, interaction[self.ITEM_ID].unsqueeze(1)).squeeze(1)  # [B]

    def item_scorer(self, interaction: Any) -> Callable[[int, int], torch.Tensor]:
        """``scores(lo, hi)``: the rows' scores of items ``lo .. hi - 1`` [B, hi - lo], each row encoded once."""
        seq_output = self.sequence_output(interaction)  # [B, 2k]
        return lambda lo, hi: self.item_range_scores(seq_output, lo, hi)

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        return self.item_scorer(interaction)(0, self.n_items)  # [B, n_items]

    def item_range_scores(self, seq_output: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """``V_i . [z, p_u] + b_i`` of items ``lo .. hi - 1`` for ``seq_output`` [B, 2k] -> [B, hi - lo]."""
        return seq_output @ self.output_embedding.weight[lo:hi].T + self.output_bias.weight[lo:hi].T

