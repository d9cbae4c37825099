"""SASRecPaper: SASRec trained as its paper and the GoodReads tutorial train it, on every position.

Source: Wang-Cheng Kang and Julian McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018
(reference code kang205/SASRec, and its PyTorch port pmixer/SASRec.pytorch), and the PyTorch
PyTorch GoodReads (UCSD Book Graph) SASRec tutorial. Each user is one training row: the last ``L`` items of
the training sequence (padding on the left), the next item at every position as its target and
``k`` negatives per position drawn from items the user never interacted with in training; the
loss is put on every non-padding position. A causal self-attention encoder scores item ``i`` at
position ``t`` by ``h_t . E_i`` with the input item embedding ``E``.

Differs from stock RecBole (``recbole.model.sequential_recommender.sasrec.SASRec``):
    - one row per user with a loss on every position (:mod:`recbole_ext.data.user_sequences`),
      where stock trains on one row per prefix with a loss on its last position only;
    - ``loss_type`` BCE (k sampled negatives, default 1), gBCE, sampled softmax (SSM) or CE over
      all items (:mod:`recbole_ext.models.losses`); stock has BPR and CE on the last position;
    - sequences padded on the left (``pad_left``), so the latest item is always at position
      L - 1, as in the paper and the tutorial; stock pads on the right;
    - the encoder is ``torch.nn.TransformerEncoderLayer`` blocks (:class:`TransformerBlock`: the
      same layer with a faster dropout mask on the CPU) with ``block_norm`` post
      (tutorial, stock: ``LN(x + f(x))``) or pre (paper: ``x + f(LN(x))`` and a final
      LayerNorm); ``embedding_layer_norm`` switches the LayerNorm after the embeddings (tutorial:
      dropout then LayerNorm; stock: LayerNorm then dropout); ``embedding_scale`` multiplies
      item embeddings by sqrt(d) (paper code); padding positions are zeroed after the
      embeddings and after every block (paper code);
    - padding is never attended to: a padding query attends only to itself (so no row of the
      attention is empty), real queries only to real items at or before them.

Differs from the paper:
    - the paper's pre-norm blocks normalise the attention's query only
      (``Q = LN(x)``, ``K = V = x``); here queries, keys and values are ``LN(x)``;
    - the position-wise FFN is two Linear layers (equal to its 1x1 convolutions);
    - weights are initialised as in RecBole (Normal(0, ``initializer_range``) for Linear and
      Embedding; the attention's input projection keeps torch's Xavier init), not Xavier
      everywhere;
    - validation and test are RecBole's leave-one-out rows (the tutorial holds out 1,000 users).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from recbole.model.sequential_recommender.sasrec import SASRec
from recbole.utils import InputType
from torch import nn

from recbole_ext.models import losses
from recbole_ext.models.parent import ParentConfig
from recbole_ext.data.sampling import NegativeArgs
from recbole_ext.data.user_sequences import UserSequenceDataLoader, right_align
from recbole_ext.models.layers import Dropout, TransformerBlock

LOSSES = ("BCE", "gBCE", "SSM", "CE")
BLOCK_NORMS = ("post", "pre")
HIDDEN_ACTS = ("relu", "gelu")  # what torch.nn.TransformerEncoderLayer takes by name
LENGTH_GROUPS = 3  # training rows are encoded in this many groups of similar length (see SASRecPaper.encode)



class SASRecPaper(SASRec):
    r"""SASRec with a loss on every position of one row per user (paper / GoodReads tutorial).

    NOTE:
        - Training batches come from :class:`UserSequenceDataLoader` (``train_loader_class``):
          ``item_id_list`` [B, L] inputs, ``item_id`` [B, L] next items, ``neg_item_id`` [B, L, k]
          negatives (k = ``train_neg_sample_args.sample_num``; none for CE).
        - BCE: ``-log s(h_t.E_pos) - sum_k log(1 - s(h_t.E_neg))`` averaged over non-padding
          positions; gBCE weights the positive term by gSASRec's beta (``gbce_t``); SSM is a
          softmax over the positive and its k negatives; CE a softmax over all items.
        - ``predict`` is stock SASRec's and ``full_sort_predict`` scores as stock's: both call :meth:`forward`, which
          aligns RecBole's evaluation rows as in training and returns the last position.
        - Switches: ``block_norm`` (post | pre), ``embedding_layer_norm``, ``embedding_scale``,
          ``pad_left``; presets in ``configs/sasrec-*.yaml``.
    """

    loss_types = LOSSES  # checked with the rest of the configuration before any data loads
    # Values of keys with a fixed set that differs from stock models' (validation.check_values reads these).
    value_choices = {"hidden_act": HIDDEN_ACTS, "block_norm": BLOCK_NORMS}

    train_loader_class = UserSequenceDataLoader
    input_type = InputType.PAIRWISE  # negatives as neg_item_id (from UserSequenceDataLoader, its train_loader_class)

    def __init__(self, config: Any, dataset: Any) -> None:
        loss_type = config["loss_type"]
        if loss_type not in LOSSES:
            raise ValueError(f"SASRecPaper: loss_type must be one of {LOSSES}, not {loss_type!r}.")
        block_norm = config["block_norm"]
        if block_norm not in BLOCK_NORMS:
            raise ValueError(f"SASRecPaper: block_norm must be one of {BLOCK_NORMS}, not {block_norm!r}.")
        if config["hidden_act"] not in HIDDEN_ACTS:
            raise ValueError(f"SASRecPaper: hidden_act must be one of {HIDDEN_ACTS}, not {config['hidden_act']!r}.")
        self.n_negatives: int = NegativeArgs.of(config).sample_num
        if loss_type != "CE" and self.n_negatives < 1:
            raise ValueError(f"SASRecPaper: loss_type {loss_type} needs train_neg_sample_args with sample_num >= 1.")
        super().__init__(ParentConfig(config, {"loss_type": "CE"}), dataset)
        self.loss_type: str = loss_type
        self.block_norm: str = block_norm
        self.embedding_layer_norm: bool = bool(config["embedding_layer_norm"])
        self.embedding_scale: float = math.sqrt(self.hidden_size) if config["embedding_scale"] else 1.0
        self.pad_left: bool = bool(config["pad_left"])
        self.gbce_t: float = float(config["gbce_t"])

        del self.trm_encoder, self.loss_fct  # replaced by the blocks below and recbole_ext.models.losses
        self.dropout = Dropout(self.hidden_dropout_prob)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                d_model=self.hidden_size,
                nhead=self.n_heads,
                dim_feedforward=self.inner_size,
                dropout=self.hidden_dropout_prob,
                activation=self.hidden_act,
                layer_norm_eps=self.layer_norm_eps,
                batch_first=True,
                norm_first=block_norm == "pre",
            )
            for _ in range(self.n_layers)
        )
        for block in self.blocks:
            block.self_attn.dropout = self.attn_dropout_prob
        self.final_layer_norm = (
            nn.LayerNorm(self.hidden_size, eps=self.layer_norm_eps) if block_norm == "pre" else nn.Identity()
        )
        if not self.embedding_layer_norm:
            self.LayerNorm = nn.Identity()
        self.apply(self._init_weights)

    def attention_mask(self, item_seq: torch.Tensor) -> torch.Tensor:
        """Additive float [B * heads, L, L]: -inf where a query may not attend (later items, padding
        keys), 0 where it may (a query always attends to itself). Built once per batch, as the float
        mask every block takes as is (a bool mask would be converted in each block); bfloat16 under
        autocast to bfloat16 (0 and -inf are exact in it)."""
        length = item_seq.size(1)
        causal = torch.ones(length, length, dtype=torch.bool, device=item_seq.device).tril()  # [L, L]
        allowed = causal.unsqueeze(0) & (item_seq != 0).unsqueeze(1)  # [B, L, L]
        allowed = allowed | torch.eye(length, dtype=torch.bool, device=item_seq.device).unsqueeze(0)
        device = item_seq.device
        # in the dtype the attention scores have (bfloat16 under precision bf16): not cast again in every block
        dtype = torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else torch.float32
        mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(~allowed, float("-inf"))
        return mask if self.n_heads == 1 else mask.repeat_interleave(self.n_heads, dim=0)

    def encode(self, item_seq: torch.Tensor, position: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden state of every position of ``item_seq`` [B, L] (as laid out, 0 = padding): [B, L, H];
        with ``position`` [B] (a real item of each row) only that position's: [B, H], the last block
        computing that one row of each sequence (half the work of a 2-block encoder).

        The rows are encoded in :data:`LENGTH_GROUPS` groups of similar length, each
        over the columns that hold its rows' items only (the last ``m`` of a left-padded row, the
        first ``m`` otherwise, with their own position embeddings); the other columns are padding,
        which no real position attends to and whose output is 0, so the numbers are those of encoding
        every row whole (a test), at about 60% of the work on ML-1M (lengths 18 .. 200, median 94).
        """
        hidden = None
        for rows, lo, hi in self.length_groups(item_seq):
            if position is not None:  # [g, H]
                part = self.encode_columns(item_seq[rows, lo:hi], lo, position[rows] - lo)
                if hidden is None:
                    hidden = part.new_empty(len(item_seq), part.size(-1))  # [B, H]
                hidden[rows] = part
                continue
            part = self.encode_columns(item_seq[rows, lo:hi], lo)  # [g, hi - lo, H]
            if hidden is None:
                hidden = part.new_zeros(*item_seq.shape, part.size(-1))  # [B, L, H]
            hidden[rows.unsqueeze(1), torch.arange(lo, hi, device=rows.device)] = part  # in place: no copies
        return hidden

    def length_groups(self, item_seq: torch.Tensor) -> list[tuple[torch.Tensor, int, int]]:
        """``(rows, lo, hi)``: the rows sorted by length in up to :data:`LENGTH_GROUPS` groups of equal
        size, each with the columns ``lo .. hi - 1`` that hold all of its rows' items."""
        width = item_seq.size(1)
        lengths, order = (item_seq != 0).sum(1).sort(descending=True)  # [B]
        groups = min(LENGTH_GROUPS, len(order))
        # sorted: each group's first row is its longest; read back in one sync
        longest = torch.stack([part[0] for part in lengths.tensor_split(groups)]).clamp(min=1).tolist()
        return [(rows, width - m, width) if self.pad_left else (rows, 0, m)
                for rows, m in zip(order.tensor_split(groups), longest)]

    def encode_columns(self, item_seq: torch.Tensor, first: int, position: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`encode` of whole rows ``item_seq`` [B, W] that are the columns ``first .. first + W - 1``
        of the model's sequences (their position embeddings): [B, W, H], or [B, H] at ``position``."""
        keep = (item_seq != 0).unsqueeze(-1).to(self.item_embedding.weight.dtype)  # [B, W, 1]
        position_ids = torch.arange(first, first + item_seq.size(1), device=item_seq.device).unsqueeze(0)  # [1, W]
        hidden = self.item_embedding(item_seq) * self.embedding_scale + self.position_embedding(position_ids)
        if self.embedding_layer_norm:  # the tutorial: dropout, then LayerNorm
            hidden = self.LayerNorm(self.dropout(hidden))
        else:
            hidden = self.dropout(hidden)
        hidden = hidden * keep  # [B, W, H]
        mask = self.attention_mask(item_seq)  # [B * heads, W, W]
        last = len(self.blocks) - 1
        for index, block in enumerate(self.blocks):
            if position is not None and index == last:  # the rows asked for only: real items, keep = 1
                return self.final_layer_norm(block.forward_rows(hidden, position, mask)).squeeze(1)  # [B, H]
            hidden = block(hidden, src_mask=mask) * keep
        return self.final_layer_norm(hidden) * keep  # [B, W, H]

    def layout(self, values: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """Left-aligned ``values`` [B, L, ...] as the encoder sees them (right-aligned if ``pad_left``)."""
        return right_align(values, item_seq_len) if self.pad_left else values

    def forward(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """The last position's hidden state for left-aligned ``item_seq`` [B, L] (RecBole's rows): [B, H]."""
        last = torch.full_like(item_seq_len, item_seq.size(1) - 1) if self.pad_left else item_seq_len - 1  # [B]
        return self.encode(self.layout(item_seq, item_seq_len), position=last)  # [B, H]

    def item_scorer(self, interaction: Any) -> Callable[[int, int], torch.Tensor]:
        """``scores(lo, hi)``: the rows' scores of items ``lo .. hi - 1`` [B, hi - lo], each row encoded once."""
        hidden = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])  # [B, H]
        return lambda lo, hi: hidden @ self.item_embedding.weight[lo:hi].T

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        return self.item_scorer(interaction)(0, self.n_items)  # [B, n_items]

    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        item_seq_len = interaction[self.ITEM_SEQ_LEN]  # [B]
        item_seq = self.layout(interaction[self.ITEM_SEQ], item_seq_len)  # [B, L]
        positives = self.layout(interaction[self.POS_ITEM_ID], item_seq_len)  # [B, L]
        hidden = self.encode(item_seq)  # [B, L, H]
        mask = positives != 0  # [B, L]
        if self.loss_type == "CE":  # over items 1 .. n - 1, in chunks: never [P x n_items] at once
            return losses.chunked_softmax_ce(hidden[mask], self.item_embedding.weight, positives[mask])
        negatives = self.layout(interaction[self.NEG_ITEM_ID], item_seq_len)  # [B, L, k]
        pos_score = (hidden * self.item_embedding(positives)).sum(-1)  # [B, L]
        neg_score = torch.einsum("blh,blkh->blk", hidden, self.item_embedding(negatives))  # [B, L, k]
        return losses.sampled_loss(self.loss_type, pos_score, neg_score, mask, n_items=self.n_items, gbce_t=self.gbce_t)
