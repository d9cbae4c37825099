"""GRU4RecPaper: GRU4Rec trained the way the official code trains it, inside RecBole.

Source: Balázs Hidasi, Alexandros Karatzoglou, Linas Baltrunas, Domonkos Tikk, "Session-based
Recommendations with Recurrent Neural Networks", ICLR 2016; Balázs Hidasi and Alexandros
Karatzoglou, "Recurrent Neural Networks with Top-k Gains for Session-based Recommendations",
CIKM 2018; the official code (hidasib/GRU4Rec, hidasib/GRU4Rec_PyTorch_Official), whose option
names and best parameter files the YAML keys and ``configs/gru4rec-official-*.yaml`` follow.
Item (one-hot or embedded) -> GRU layers -> hidden state ``h``; the score of item i is
``h . Wy_i + By_i`` (output embedding ``Wy`` [n_items, H_last], bias ``By``). Training puts a loss
at every position of every session; the candidates of a position are the targets of the other
sessions of the mini-batch at the same step plus ``n_sample`` items drawn once per mini-batch
from popularity^``sample_alpha``.

Differs from stock RecBole (``recbole.model.sequential_recommender.gru4rec.GRU4Rec``, which
follows Tan et al. 2016):
    - a loss at every position of each session chunk (:mod:`recbole_ext.data.sessions`), not one
      loss per RecBole prefix row at its last position;
    - output sampling with in-batch targets + shared popularity^alpha negatives, optional logQ
      correction; losses CE, BPR-max (``bpreg``), TOP1-max, BPR, TOP1 (stock: full CE, or BPR with
      one uniform negative);
    - output embedding ``Wy`` + bias ``By`` instead of ``dense`` + tied item embedding; input
      one-hot (``embedding_size: 0``), a separate embedding, or ``Wy`` itself
      (``constrained_embedding``); GRU layers of any sizes (``layers``) with biases, dropout on the
      input and after every layer; ``final_act`` on the training scores; the official init;
      ``learner: adagradm`` (Adagrad with momentum, :mod:`recbole_ext.models.optim`);
    - ``session_gap_seconds``: sessions cut at inactivity gaps, in training and in evaluation.
    - Unused stock keys: ``hidden_size``, ``num_layers``, ``dropout_prob``.

Differs from the paper / official code:
    - Training rows are whole sessions cut into chunks of ``MAX_ITEM_LIST_LENGTH + 1`` items,
      run through ``nn.GRU`` at once (same loss as session-parallel mini-batches within a chunk;
      the hidden state restarts from zero at each chunk, as on RecBole's evaluation rows, instead
      of being carried through a longer session). Measured faster on CPU than stepping a
      ``GRUCell`` per position, and it keeps RecBole's ``Trainer``. On the CPU the layers are
      :class:`recbole_ext.models.layers.GRU` (``nn.GRU``'s parameters and numbers, one autograd
      function for the whole recurrence).
    - The gradient flows back through all the steps of a chunk (the official code carries the hidden
      state from step to step but detaches it, so each step's loss reaches one step back).
    - A "mini-batch step" is one position index across the ``train_batch_size`` chunks of a batch;
      the extra negatives are drawn once per batch of chunks (official: once per step).
    - Negatives equal to the row's target (its own column, or another session's identical target
      or sample) are masked; the official code only masks the own column (BPR-max, TOP1-max).
    - ``final_act`` is applied to the scores of every loss (official PyTorch: ELU only in BPR-max;
      official Theano: every loss); ranking is unchanged because the activations are monotone.
    - Dense gradients (official: sparse embedding gradients, a speed device for big catalogues).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from recbole.model.sequential_recommender.gru4rec import GRU4Rec
from torch import nn
from torch.nn import functional as F

from recbole_ext.models import losses
from recbole_ext.models.layers import GRU, Dropout
from recbole_ext.models.parent import ParentConfig
from recbole_ext.data.sessions import SessionDataLoader, session_gap
from recbole_ext.models.optim import ExtendedTrainer
from recbole_ext.data.sampling import NegativeSampler, as_generator, popularity_weights

LOSSES = ("CE", "BPR-max", "TOP1-max", "BPR", "TOP1")



def parse_final_act(name: str) -> tuple[str, float]:
    """``linear`` / ``tanh`` / ``elu-<alpha>`` (official names; ``elu`` is ``elu-1``) -> (kind, alpha)."""
    name = str(name).strip().lower()
    if name in ("linear", "tanh"):
        return name, 0.0
    if name == "elu":
        return "elu", 1.0
    if name.startswith("elu-"):
        try:
            return "elu", float(name[4:])
        except ValueError:
            pass
    raise ValueError(f"GRU4RecPaper: final_act must be linear, tanh or elu-<alpha>, not {name!r}.")


def init_uniform(tensor: torch.Tensor, dim0_scale: int = 1, dim1_scale: int = 1) -> None:
    """The official init: uniform in +-sqrt(6 / (rows / dim0_scale + cols / dim1_scale))."""
    sigma = math.sqrt(6.0 / (tensor.size(0) / dim0_scale + tensor.size(1) / dim1_scale))
    with torch.no_grad():
        tensor.uniform_(-sigma, sigma)


def in_batch_candidates(
    hidden: torch.Tensor, targets: torch.Tensor, samples: torch.Tensor, out_emb: torch.Tensor, out_bias: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores of each position's target and of its negatives, session-parallel style.

    ``hidden`` [B, L, H], ``targets`` [B, L] (0 = padding), ``samples`` [S] shared extra items,
    ``out_emb`` [n_items, H], ``out_bias`` [n_items]. The negatives of position (b, t) are the
    targets of the other rows at step t, then the ``S`` samples. Returns, step-major:
    ``pos`` [L, B], ``neg`` [L, B, B + S], ``neg_mask`` [L, B, B + S] (False for padding columns and
    for any column whose item is the row's own target, its own column included), ``mask`` [L, B]
    (real positions), ``neg_items`` [L, B + S] (the item of each column).
    """
    targets_t = targets.t()  # [L, B]
    hidden_t = hidden.transpose(0, 1)  # [L, B, H]
    target_emb = out_emb[targets_t]  # [L, B, H]
    pos = (hidden_t * target_emb).sum(-1) + out_bias[targets_t]  # [L, B]
    in_batch = torch.bmm(hidden_t, target_emb.transpose(1, 2)) + out_bias[targets_t].unsqueeze(1)  # [L, B, B]
    sampled = hidden_t @ out_emb[samples].t() + out_bias[samples]  # [L, B, S]
    neg = torch.cat([in_batch, sampled], dim=-1)  # [L, B, B + S]
    neg_items = torch.cat([targets_t, samples.unsqueeze(0).expand(targets_t.size(0), -1)], dim=1)  # [L, B + S]
    neg_mask = (neg_items.unsqueeze(1) != targets_t.unsqueeze(2)) & (neg_items.unsqueeze(1) != 0)  # [L, B, B + S]
    return pos, neg, neg_mask, targets_t != 0, neg_items


class GRU4RecPaper(GRU4Rec):
    r"""GRU4Rec with session-parallel-style training, shared negatives and the 2018 losses.

    NOTE:
        - Training batches come from :class:`recbole_ext.data.sessions.SessionDataLoader`
          (``train_loader_class``): ``item_id_list`` [B, L] and ``item_id`` [B, L] (next item at
          every position); a stock RecBole batch (``item_id`` [B]) is scored at its last position.
        - ``n_sample`` extra negatives per batch are drawn from the training items' popularity **
          ``sample_alpha`` with a generator seeded with ``seed`` (same seed -> same samples).
        - ``logq`` > 0 (CE only, as officially): scores minus ``logq * log Q(item)``, Q = count for
          in-batch targets and count ** ``sample_alpha`` for samples.
        - ``embedding_size: 0`` and not constrained: one-hot input, i.e. the first GRU layer's input
          weights are a [n_items, 3 H] table (an ``nn.Embedding`` feeding a GRU whose input matrix is
          a frozen identity).
        - With ``session_gap_seconds``, evaluation rows keep only the history after its last gap.
    """

    loss_types = LOSSES  # checked with the rest of the configuration before any data loads
    # final_act's forms are what parse_final_act reads (validation.check_values calls it).
    value_parsers = {"final_act": (parse_final_act, "linear, tanh, elu or elu-<alpha> (e.g. elu-0.5)")}

    train_loader_class = SessionDataLoader  # recbole_ext.training.pipeline swaps RecBole's loader for it
    trainer_class = ExtendedTrainer  # knows learner: adagradm

    def __init__(self, config: Any, dataset: Any) -> None:
        loss_type = config["loss_type"]
        if loss_type not in LOSSES:
            raise ValueError(f"GRU4RecPaper: loss_type must be one of {LOSSES}, not {loss_type!r}.")
        # The parent's modules are replaced below: keep them tiny, and its loss check happy.
        super().__init__(ParentConfig(config, {"loss_type": "CE", "embedding_size": 1, "hidden_size": 1,
                                                "num_layers": 1}), dataset)
        del self.gru_layers, self.dense, self.emb_dropout, self.loss_fct
        self.loss_type: str = loss_type
        self.layers: list[int] = [int(x) for x in config["layers"]]
        self.embedding_size: int = int(config["embedding_size"])
        self.constrained: bool = bool(config["constrained_embedding"])
        self.n_sample: int = int(config["n_sample"])
        self.sample_alpha: float = float(config["sample_alpha"])
        self.bpreg: float = float(config["bpreg"])
        self.logq: float = float(config["logq"])
        self.final_act, self.elu_alpha = parse_final_act(config["final_act"])
        self.session_gap: float | None = session_gap(config)
        self.time_list_field: str = f"{config['TIME_FIELD']}{config['LIST_SUFFIX']}"
        if not self.layers or min(self.layers) < 1 or self.n_sample < 0 or self.embedding_size < 0:
            raise ValueError("GRU4RecPaper: layers must be positive sizes; n_sample, embedding_size >= 0.")

        # Output embedding and bias; the input embedding is one of: Wy (constrained), E, one-hot.
        hidden_last = self.layers[-1]
        self.out_embedding = nn.Embedding(self.n_items, hidden_last, padding_idx=0)  # Wy [n_items, H]
        self.out_bias = nn.Embedding(self.n_items, 1, padding_idx=0)  # By [n_items, 1]
        if self.constrained:
            self.item_embedding = self.out_embedding
            n_input = hidden_last
        elif self.embedding_size > 0:
            self.item_embedding = nn.Embedding(self.n_items, self.embedding_size, padding_idx=0)
            n_input = self.embedding_size
        else:  # one-hot: the first layer's input weights as a table of 3 H per item
            self.item_embedding = nn.Embedding(self.n_items, 3 * self.layers[0], padding_idx=0)
            n_input = 3 * self.layers[0]
        self.embed_dropout = Dropout(float(config["dropout_p_embed"]))  # nn.Dropout with a faster mask on the CPU
        self.hidden_dropout = Dropout(float(config["dropout_p_hidden"]))
        sizes = [n_input, *self.layers]
        self.gru_stack = nn.ModuleList(
            GRU(sizes[i], sizes[i + 1], num_layers=1, bias=True, batch_first=True) for i in range(len(self.layers))
        )
        self.one_hot = not self.constrained and self.embedding_size == 0
        self.reset_parameters()

        # Shared extra negatives: popularity ** sample_alpha over the training items.
        train_items = dataset.split.train_sequences(dataset.sequences, with_times=False).items
        counts = torch.bincount(train_items, minlength=self.n_items).double()  # [n_items]
        self.register_buffer("log_count", counts.clamp(min=1.0).log().float(), persistent=False)
        self.sampler = NegativeSampler(self.n_items, weights=popularity_weights(train_items, self.n_items,
                                                                                 self.sample_alpha))
        self.sample_generator = as_generator(config["seed"])

    def reset_parameters(self) -> None:
        """The official GRU4Rec init (gates scaled by 3; biases and ``By`` zero)."""
        init_uniform(self.out_embedding.weight)
        if not self.constrained:
            init_uniform(self.item_embedding.weight, dim1_scale=3 if self.one_hot else 1)
        for i, gru in enumerate(self.gru_stack):
            if i == 0 and self.one_hot:  # identity: the embedding table *is* the input weight
                with torch.no_grad():
                    gru.weight_ih_l0.copy_(torch.eye(gru.weight_ih_l0.size(0)))
                gru.weight_ih_l0.requires_grad_(False)
            else:
                init_uniform(gru.weight_ih_l0, dim0_scale=3)
            init_uniform(gru.weight_hh_l0, dim0_scale=3)
            nn.init.zeros_(gru.bias_ih_l0)
            nn.init.zeros_(gru.bias_hh_l0)
        nn.init.zeros_(self.out_bias.weight)

    def _init_weights(self, module: nn.Module) -> None:
        """Unused: the parent's init runs on its throwaway modules; ours is :meth:`reset_parameters`."""

    def sequence_hidden(self, item_seq: torch.Tensor) -> torch.Tensor:
        """Hidden state after every position of left-aligned ``item_seq`` [B, L] -> [B, L, H]."""
        x = self.embed_dropout(self.item_embedding(item_seq))  # [B, L, E]
        for gru in self.gru_stack:
            x, _ = gru(x)  # [B, L, H_i]; causal, so the padding after a row never reaches it
            x = self.hidden_dropout(x)
        return x

    def current_session(self, interaction: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(item_seq [B, L], item_seq_len [B])``, cut to the history after its last session gap."""
        item_seq, item_seq_len = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        if self.session_gap is None:
            return item_seq, item_seq_len
        if self.time_list_field not in interaction:
            raise ValueError("session_gap_seconds needs the timestamp column (load_col inter: timestamp).")
        times = interaction[self.time_list_field]  # [B, L]
        positions = torch.arange(item_seq.size(1), device=item_seq.device).unsqueeze(0)  # [1, L]
        valid = positions < item_seq_len.unsqueeze(1)  # [B, L]
        breaks = torch.zeros_like(valid)
        breaks[:, 1:] = ((times[:, 1:] - times[:, :-1]) > self.session_gap) & valid[:, 1:]
        start = (breaks.long() * positions).amax(dim=1)  # [B] first position of the last session
        length = item_seq_len - start  # [B]
        index = (start.unsqueeze(1) + positions).clamp(max=item_seq.size(1) - 1)  # [B, L]
        seq = item_seq.gather(1, index).masked_fill(positions >= length.unsqueeze(1), 0)
        return seq, length

    def forward(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """Hidden state after the last item of each row: [B, H]."""
        return self.gather_indexes(self.sequence_hidden(item_seq), item_seq_len - 1)

    def activate(self, scores: torch.Tensor) -> torch.Tensor:
        if self.final_act == "tanh":
            return torch.tanh(scores)
        if self.final_act == "elu":
            return F.elu(scores, self.elu_alpha)
        return scores

    def draw_samples(self, device: torch.device) -> torch.Tensor:
        """``n_sample`` items from popularity ** ``sample_alpha`` (seeded, CPU) -> [S] on ``device``."""
        if self.n_sample == 0:
            return torch.zeros(0, dtype=torch.long, device=device)
        return self.sampler.draw((self.n_sample,), self.sample_generator).to(device)

    def calculate_loss(self, interaction: Any) -> torch.Tensor:
        item_seq = interaction[self.ITEM_SEQ]  # [B, L]
        targets = interaction[self.POS_ITEM_ID]  # [B, L] (our loader) or [B] (RecBole's rows)
        if targets.dim() == 1:
            hidden = self.forward(item_seq, interaction[self.ITEM_SEQ_LEN]).unsqueeze(1)  # [B, 1, H]
            targets = targets.unsqueeze(1)  # [B, 1]
        else:
            hidden = self.sequence_hidden(item_seq)  # [B, L, H]
        samples = self.draw_samples(item_seq.device)  # [S]
        if self.loss_type == "CE" and self.final_act == "linear":  # the fused loss: same value and gradients
            return self.fused_ce(hidden, targets, samples)
        pos, neg, neg_mask, mask, neg_items = in_batch_candidates(
            hidden, targets, samples, self.out_embedding.weight, self.out_bias.weight.squeeze(1)
        )
        pos, neg = self.activate(pos), self.activate(neg)
        if self.loss_type == "CE":
            if self.logq > 0:
                n_batch = targets.size(0)
                log_q = self.log_count[neg_items]  # [L, B + S]
                log_q = torch.cat([log_q[:, :n_batch], self.sample_alpha * log_q[:, n_batch:]], dim=1)
                pos = pos - self.logq * self.log_count[targets.t()]
                neg = neg - self.logq * log_q.unsqueeze(1)
        # GRU4Rec's "CE" is the softmax over the in-batch and shared negatives
        return losses.sampled_loss("SSM" if self.loss_type == "CE" else self.loss_type, pos, neg, mask, neg_mask,
                                   bpreg=self.bpreg)

    def fused_ce(self, hidden: torch.Tensor, targets: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
        """The CE loss of :func:`in_batch_candidates`' scores (logQ included) by
        :func:`~recbole_ext.models.losses.shared_negatives_softmax_ce`."""
        targets_t = targets.t()  # [L, B]
        bias = self.out_bias.weight.squeeze(1)  # [n_items]
        target_offset = sample_offset = None
        if self.logq > 0:
            target_offset = -self.logq * self.log_count[targets_t]  # [L, B]
            sample_offset = -self.logq * self.sample_alpha * self.log_count[samples]  # [S]
        return losses.shared_negatives_softmax_ce(
            hidden.transpose(0, 1), self.out_embedding(targets_t), bias[targets_t], targets_t,
            self.out_embedding(samples), bias[samples], samples, target_offset, sample_offset)

    def predict(self, interaction: Any) -> torch.Tensor:
        hidden = self.forward(*self.current_session(interaction))  # [B, H]
        items = interaction[self.ITEM_ID]  # [B]
        return (hidden * self.out_embedding(items)).sum(-1) + self.out_bias(items).squeeze(-1)  # [B]

    def item_scorer(self, interaction: Any) -> Callable[[int, int], torch.Tensor]:
        """``scores(lo, hi)``: the rows' scores of items ``lo .. hi - 1`` [B, hi - lo], each row encoded once."""
        hidden = self.forward(*self.current_session(interaction))  # [B, H]
        return lambda lo, hi: hidden @ self.out_embedding.weight[lo:hi].t() + self.out_bias.weight[lo:hi].t()

    def full_sort_predict(self, interaction: Any) -> torch.Tensor:
        return self.item_scorer(interaction)(0, self.n_items)  # [B, n_items]
