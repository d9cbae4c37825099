"""Layers our models share, written for the CPU's speed: dropout, a transformer block and a GRU.

Measured on a 2-core Xeon (torch 2.13, 2 threads; ``benchmarks/bench_step.py``): ``nn.Dropout``
draws its mask with ``bernoulli_``, 42 ms for the 5.1M attention weights of one SASRec batch
(128 x 200 x 200) and ~15% of a training step. :class:`Dropout` draws 63-bit integers, reads each
as four 15-bit ones (12 ms in all) and keeps an entry when it is at least ``round(p * 2**15)``: the
drop probability is ``p`` rounded to a multiple of ``2**-15`` (0.2 -> 0.20001), the kept entries
scaled by the inverse of the exact keep probability, so the layer stays unbiased. On CUDA it is ``nn.Dropout``.
Both draw from torch's global generator, so seeds and exact resume work as before.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

_LEVELS = 2**15  # each draw is read as 15-bit integers, 0 .. 2**15 - 1


def dropout(x: torch.Tensor, p: float, training: bool = True, scaled: bool = True) -> torch.Tensor:
    """Inverted dropout of ``x`` with drop probability ``p`` (see the module docstring).

    ``scaled=False`` leaves the kept entries unscaled, for a caller that applies
    :func:`keep_scale` to a smaller tensor downstream (the attention output instead of its weights).
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        dropped = F.dropout(x, p, training=True)
        return dropped if scaled else dropped * (1.0 - p)
    # 63 random bits per int64 draw, read as four 15-bit integers: a quarter of the generator's calls
    draws = torch.empty((x.numel() + 3) // 4, dtype=torch.int64).random_().view(torch.int16)[: x.numel()]
    mask = draws.bitwise_and_(_LEVELS - 1).ge_(round(p * _LEVELS)).view(x.shape).to(x.dtype)  # 0 / 1
    return x * (mask.mul_(keep_scale(p)) if scaled else mask)  # (torch.where measured 2x slower)


def keep_scale(p: float) -> float:
    """What :func:`dropout` multiplies the kept entries by: 1 / the exact keep probability."""
    return _LEVELS / (_LEVELS - round(p * _LEVELS))


class Dropout(nn.Dropout):
    """``nn.Dropout`` with the faster mask of :func:`dropout` on the CPU (same ``p``, same state)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


class TransformerBlock(nn.TransformerEncoderLayer):
    """``nn.TransformerEncoderLayer`` (same parameters and state dict) whose training pass uses
    :class:`Dropout` everywhere, attention weights included (``self_attn.dropout`` is their ``p``).

    In training the self-attention is written out (``softmax(q k^T / sqrt(d) + mask) v``; a bool
    ``src_mask`` is True where a query may not attend), as torch's own path computes it when
    dropout is on; in evaluation torch's fused inference path runs as before.
    :meth:`forward_rows` computes the layer's output at one position of each sequence only (the
    last block of an encoder whose caller reads one position: a sequence's last hidden state).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dropout, self.dropout1, self.dropout2 = (Dropout(self.dropout.p), Dropout(self.dropout1.p),
                                                     Dropout(self.dropout2.p))

    def _sa_block(self, x: torch.Tensor, attn_mask: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
                  is_causal: bool = False) -> torch.Tensor:
        if not self.training or key_padding_mask is not None or is_causal:
            return super()._sa_block(x, attn_mask, key_padding_mask, is_causal)
        width = x.size(-1)
        qkv = F.linear(x, self.self_attn.in_proj_weight, self.self_attn.in_proj_bias)  # [B, L, 3 D]
        q, k, v = qkv.split(width, dim=-1)  # [B, L, D] each: views, no copies
        return self.dropout1(self.self_attn.out_proj(self._attend(q, k, v, attn_mask)))

    def forward_rows(self, src: torch.Tensor, position: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        """The layer's output at position ``position[b]`` of each sequence ``b`` only: [B, 1, D].

        ``src`` [B, L, D]; ``src_mask`` [B * heads, L, L] (or [L, L]) as :meth:`forward` takes it. The
        same numbers as ``self(src, src_mask=src_mask)[range(B), position]``: keys and values come
        from every position, queries, the feed-forward and the norms only from the rows asked for.
        """
        rows = torch.arange(src.size(0), device=src.device)
        heads, length = self.self_attn.num_heads, src.size(1)
        row_mask = None
        if src_mask is not None:  # float or bool: _attend takes either
            full = src_mask.expand(src.size(0) * heads, length, length).view(src.size(0), heads, length, length)
            row_mask = full[rows, :, position].reshape(src.size(0) * heads, 1, length)  # [B h, 1, L]
        x = src[rows, position].unsqueeze(1)  # [B, 1, D]
        if self.norm_first:
            x = x + self._cross_block(self.norm1(x), self.norm1(src), row_mask)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._cross_block(x, src, row_mask))
        return self.norm2(x + self._ff_block(x))

    def _cross_block(self, query_in: torch.Tensor, key_in: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        width = query_in.size(-1)
        weight, bias = self.self_attn.in_proj_weight, self.self_attn.in_proj_bias
        q = F.linear(query_in, weight[:width], None if bias is None else bias[:width])  # [B, Lq, D]
        kv = F.linear(key_in, weight[width:], None if bias is None else bias[width:])  # [B, L, 2 D]
        k, v = kv.split(width, dim=-1)
        return self.dropout1(self.self_attn.out_proj(self._attend(q, k, v, mask)))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``softmax(q k^T / sqrt(d) + mask) v`` with dropout on the weights: q [B, Lq, D], k, v [B, L, D]
        -> [B, Lq, D]; ``mask`` additive float (or bool, True = may not attend) [B * heads, Lq, L]."""
        batch, q_len, width = q.shape
        heads = self.self_attn.num_heads
        head_width = width // heads
        if heads > 1:  # [B, L, D] -> [B h, L, d]
            q, k, v = (t.reshape(batch, t.size(1), heads, head_width).transpose(1, 2).reshape(batch * heads, t.size(1),
                       head_width) for t in (q, k, v))
        if mask is not None and mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill_(mask, float("-inf"))
        p = self.self_attn.dropout if self.training else 0.0
        # Under autocast the products are bfloat16; the softmax reads and writes the products' dtype
        # (it accumulates in float32 inside), so the [B h, Lq, L] weights are never widened and cast back.
        with torch.autocast(q.device.type, enabled=False):
            if q.dtype != k.dtype:  # autocast made one product bfloat16 and left the other float32
                q, k, v = (t.to(torch.promote_types(q.dtype, k.dtype)) for t in (q, k, v))
            scale = 1.0 / math.sqrt(head_width)
            k_t = k.transpose(1, 2)  # [B h, d, L]
            if mask is None:
                scores = torch.bmm(q, k_t).mul_(scale)  # [B h, Lq, L]
            else:  # 0 where allowed, -inf where not
                scores = torch.baddbmm(mask.to(q.dtype), q, k_t, alpha=scale)  # [B h, Lq, L]
            weights = dropout(torch.softmax(scores, dim=-1), p, True, scaled=False)
            out = torch.bmm(weights, v)  # [B h, Lq, d]
            if p > 0.0:  # dropout's 1 / keep probability, on [B h, Lq, d] rather than [B h, Lq, L]
                out = out * keep_scale(p)
        if heads > 1:
            out = out.view(batch, heads, q_len, head_width).transpose(1, 2).reshape(batch, q_len, width)
        return out


class GRU(nn.GRU):
    """``nn.GRU`` (same parameters and state dict) whose one-layer, batch-first pass from a zero state
    runs on the CPU as :class:`_GRUSequence`: six tensor operations a step forward and four back, where
    torch's CPU GRU, a composite of small operations recorded one by one by autograd, spent ~15 ms of a
    GRU4RecPaper ML-1M step (64 rows x 50 steps, width 100) in some 2,000 of them; this one ~10 ms (the
    bf16 step 52.4 -> 49.4 ms, alternating the two in one process, 2026-12-07). Every other
    case (CUDA's cuDNN kernel, several layers, a given initial state, packed sequences, and no gradient
    to come, as in evaluation, where this one would keep every gate of a big batch) is ``nn.GRU``.
    Under autocast the recurrence runs in float32, as it would run no faster in bfloat16 (measured).
    """

    def forward(self, input, hx=None):  # noqa: A002  (nn.GRU's names)
        ours = (hx is None and isinstance(input, torch.Tensor) and input.device.type == "cpu" and input.dim() == 3
                and self.num_layers == 1 and not self.bidirectional and self.batch_first and self.bias
                and torch.is_grad_enabled())  # without a backward to come nn.GRU keeps less (evaluation's big batches)
        if not ours:
            return super().forward(input, hx)
        with torch.autocast("cpu", enabled=False):  # the weights' dtype (float32), whatever autocast made the input
            output = _GRUSequence.apply(input.to(self.weight_hh_l0.dtype), self.weight_ih_l0, self.weight_hh_l0,
                                        self.bias_ih_l0, self.bias_hh_l0)  # [B, L, H]
        return output, output[:, -1].unsqueeze(0)  # (outputs, h_n [1, B, H]) as nn.GRU returns them


class _GRUSequence(torch.autograd.Function):
    """One GRU layer over ``x`` [B, L, E] from ``h_0 = 0``, torch's equations (``r``, ``z``, ``n`` gates;
    ``h' = (1 - z) n + z h``) -> every step's output [B, L, H].

    Forward: the input projections of all steps in one product, then per step ``gh = h W_hh^T + b_hh``,
    ``[r, z] = sigmoid(gi_rz + gh_rz)``, ``n = tanh(gi_n + r gh_n)``, ``h' = lerp(n, h, z)``.
    Backward: with ``dh`` the gradient reaching ``h'``, every gate's gradient is ``dh`` times a factor
    that does not depend on ``dh`` (``A = (1 - z)(1 - n^2)`` for ``n``'s pre-activation,
    ``(h - n) z (1 - z)`` for ``z``'s, ``A gh_n r (1 - r)`` for ``r``'s; ``gh_n``'s is ``A r``): the
    factors of all steps are formed at once before the loop, which then runs what the recurrence needs
    (``dh`` plus the step's output gradient, ``gh``'s gradient, ``dh z + gh's gradient @ W_hh``: four
    operations a step); the input gates' gradients (every step's ``dh`` times its factors) and the
    weights' follow in a few whole-sequence operations.
    """

    @staticmethod
    def forward(ctx, x, weight_ih, weight_hh, bias_ih, bias_hh):  # noqa: D401
        batch, steps, _ = x.shape
        width = weight_hh.size(1)
        x_t = x.transpose(0, 1).reshape(steps * batch, -1)  # [L B, E] step-major: each step's rows contiguous
        gi = torch.addmm(bias_ih, x_t, weight_ih.T).view(steps, batch, 3 * width)  # [L, B, 3H]
        gh = torch.empty_like(gi)  # [L, B, 3H] h W_hh^T + b_hh of every step
        rz = torch.empty(steps, batch, 2 * width, dtype=x.dtype, device=x.device)  # sigmoid gates r, z
        n = torch.empty(steps, batch, width, dtype=x.dtype, device=x.device)
        out = torch.empty(steps + 1, batch, width, dtype=x.dtype, device=x.device)  # out[0] = h_0 = 0
        out[0].zero_()
        w_hh_t = weight_hh.T
        # every step's views made at once (unbind), not ten slicing calls a step
        gi_rz, gi_n = gi[..., : 2 * width].unbind(0), gi[..., 2 * width:].unbind(0)
        gh_all, gh_rz, gh_n = gh.unbind(0), gh[..., : 2 * width].unbind(0), gh[..., 2 * width:].unbind(0)
        rz_all, r, z = rz.unbind(0), rz[..., :width].unbind(0), rz[..., width:].unbind(0)
        n_all, h_all = n.unbind(0), out.unbind(0)
        for t in range(steps):
            torch.addmm(bias_hh, h_all[t], w_hh_t, out=gh_all[t])
            torch.add(gi_rz[t], gh_rz[t], out=rz_all[t]).sigmoid_()
            torch.addcmul(gi_n[t], r[t], gh_n[t], out=n_all[t]).tanh_()
            torch.lerp(n_all[t], h_all[t], z[t], out=h_all[t + 1])
        ctx.save_for_backward(x_t, weight_ih, weight_hh, gh, rz, n, out)
        return out[1:].transpose(0, 1)  # [B, L, H], a view of the step-major outputs

    @staticmethod
    def backward(ctx, grad_out):
        x_t, weight_ih, weight_hh, gh, rz, n, out = ctx.saved_tensors
        steps, batch, width = n.shape
        r, z = rz[..., :width], rz[..., width:]
        h_prev = out[:-1]  # [L, B, H]
        d_n = (1 - z) * (1 - n * n)  # d h' / d (n's pre-activation) [L, B, H]
        factors = torch.cat([d_n * gh[..., 2 * width:] * r * (1 - r), (h_prev - n) * z * (1 - z), d_n], dim=2)
        factors_h = torch.cat([factors[..., : 2 * width], d_n * r], dim=2)  # the same for gh's three parts
        factors, factors_h = factors.view(steps, batch, 3, width), factors_h.view(steps, batch, 3, width)
        d_gh = torch.empty(steps, batch, 3, width, dtype=n.dtype, device=n.device)
        dh_all = torch.empty(steps, batch, width, dtype=n.dtype, device=n.device)  # the gradient reaching each h
        grad_steps, z_steps, factors_h_steps = grad_out.transpose(0, 1).unbind(0), z.unbind(0), factors_h.unbind(0)
        d_gh_steps, dh_steps = d_gh.unbind(0), dh_all.unbind(0)
        dh = torch.zeros(batch, width, dtype=n.dtype, device=n.device)
        for t in range(steps - 1, -1, -1):  # only what the recurrence needs: gh's gradient and the next dh
            dh = torch.add(dh, grad_steps[t], out=dh_steps[t])
            torch.mul(factors_h_steps[t], dh.unsqueeze(1), out=d_gh_steps[t])
            dh = torch.addmm(dh * z_steps[t], d_gh_steps[t].view(batch, 3 * width), weight_hh)
        d_gi = (factors * dh_all.unsqueeze(2)).view(steps * batch, 3 * width)  # every step's at once
        d_gh = d_gh.view(steps * batch, 3 * width)
        d_x = d_w_ih = d_b_ih = d_w_hh = d_b_hh = None
        if ctx.needs_input_grad[0]:
            d_x = (d_gi @ weight_ih).view(steps, batch, -1).transpose(0, 1)  # [B, L, E]
        if ctx.needs_input_grad[1]:
            d_w_ih = d_gi.T @ x_t
        if ctx.needs_input_grad[3]:
            d_b_ih = d_gi.sum(0)
        if ctx.needs_input_grad[2]:
            d_w_hh = d_gh.T @ h_prev.reshape(steps * batch, width)
        if ctx.needs_input_grad[4]:
            d_b_hh = d_gh.sum(0)
        return d_x, d_w_ih, d_w_hh, d_b_ih, d_b_hh
