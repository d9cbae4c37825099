"""Data-parallel training with PyTorch's own engine: ``torchrun``, ``DistributedDataParallel``, gloo or nccl.

    torchrun --standalone --nproc_per_node 2 run.py --model SASRecPaper --dataset ml-1m ...
    torchrun --nnodes 2 --node_rank R --nproc_per_node 8 --rdzv_endpoint HOST:29400 run.py ...

Every process (rank) runs the same command; torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``) makes :func:`join` start the process group: ``nccl`` when the run's device is a
GPU (each rank sees one GPU: the ``LOCAL_RANK``-th visible one), ``gloo`` on the CPU. RecBole's own
data-parallel mode (``nproc``, ``mp.spawn``) is not used.

What is sharded and what is exact:

* **Training**: every rank's loader draws the same shuffled global batches (the loaders' seeded
  generator); rank ``r`` builds and trains on the ``r``-th contiguous share of each batch
  (its loaders are :mod:`recbole_ext.data.shards`' sharded loaders), so the ranks' rows are disjoint and reshuffled every epoch. Gradients
  are averaged by DDP; each rank's loss is weighted by its share of the batch's loss terms (the
  non-padding targets every model here averages over, :func:`loss_terms`), so the update is the
  one-process update of the same global batch, up to the order of float sums. Random draws
  inside a batch (dropout, sampled negatives, GRU4RecPaper's in-batch negatives) are each rank's
  own: with them the run is an equally valid draw, not the same one.
* **Evaluation**: each rank scores its share of every evaluation batch; the per-row results
  (RecBole's ``rec.topk`` ...) are gathered and put back in one-process order before the metrics
  are computed (:class:`GatheredCollector`): every rank gets exactly the one-process numbers, so
  early stopping decides the same everywhere. The time cap is rank 0's clock.
* **Data**: one copy per machine. The first rank of each machine (``LOCAL_RANK`` 0) loads the
  dataset and writes its per-interaction arrays to a temporary folder (``TMPDIR``); every rank of
  the machine then maps them from there (:func:`one_copy_per_machine`), so N ranks share one set
  of pages instead of holding N copies, and the folder is removed once all have mapped it.
* **Files**: rank 0 alone writes the run directory (``run.json``, ``result.json``, checkpoints,
  ``resume.pth``); the best model is sent from rank 0 to the others for the test, so no rank
  reads another machine's disk. ``resume.pth`` keeps every rank's random state: ``--resume``
  (under the same ``torchrun`` command) continues exactly.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist

from recbole_ext import compat  # noqa: F401  (before recbole is used)

from recbole.evaluator import Collector

from recbole_ext.compat import load_trusted_checkpoint
from recbole_ext.data.shards import Shard
from recbole_ext.torchrun import launched
from recbole_ext.errors import RecboleExtError, RunError

ROW_KEYS = ("rec.items", "rec.topk", "rec.meanrank", "rec.score", "data.label")  # RecBole's per-row results
TIMEOUT = datetime.timedelta(minutes=30)  # a collective waits this long for a slow rank


class RankLost(RunError):
    """Another rank of a distributed run stopped (killed, crashed, its machine lost)."""


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> Shard:
        """This rank's share of every batch."""
        return Shard(self.rank, self.size)




def join(device: torch.device) -> World | None:
    """The process group torchrun describes, started once per process (None when not launched)."""
    if not launched():
        return None
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=TIMEOUT)
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def collective(what: str):
    """A peer's failure inside the block (a collective, or DDP's gradient all-reduce in backward)
    raised as :class:`RankLost`, naming ``what`` was under way; any other error passes through."""
    try:
        yield
    except RuntimeError as error:
        if not is_peer_failure(error):
            raise
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        # torchrun now stops the surviving ranks with SIGTERM: this rank finishes saying why first.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise RankLost(f"another rank stopped during {what} ({first_line})") from None


def is_peer_failure(error: BaseException) -> bool:
    """Whether ``error`` is the process group's: a peer closed its connection, timed out, or NCCL failed."""
    text = str(error)
    return isinstance(error, dist.DistError) or "/gloo/" in text or "NCCL" in text or "Connection closed by peer" in text




def broadcast_object(value: Any, world: World | None) -> Any:
    """Rank 0's ``value`` on every rank."""
    if world is None:
        return value
    box = [value]
    with collective("a broadcast"):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value: Any, world: World | None) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if world is None:
        return [value]
    values = [None] * world.size
    with collective("a gather"):
        dist.all_gather_object(values, value)
    return values


def one_copy_per_machine(build: Callable[[], Any], to_files: Callable[[Any, Path], None],
                         from_files: Callable[[Path], Any], world: World) -> Any:
    """``build()`` on the first rank of each machine only; it writes what it built with
    ``to_files(value, folder)`` and the machine's other ranks read it with ``from_files(folder)``.

    An error in ``build`` stops every rank: the building rank raises it, the others say which rank
    failed and why (no rank waits for a folder that never comes)."""
    token = broadcast_object(uuid.uuid4().hex[:12], world)  # one name per run, each machine its own folder
    folder = Path(tempfile.gettempdir()) / f"recbole-ext-shared-data-{token}-node{os.environ.get('GROUP_RANK', '0')}"
    value, failure = None, None
    if world.local_rank == 0:
        try:
            value = build()
            try:
                to_files(value, folder)
            except OSError as error:
                raise RecboleExtError(f"could not write the data this machine's ranks share to {folder} ({error}): "
                                      "point TMPDIR at a folder with room for it (about 30 bytes per "
                                      "interaction)") from None
        except BaseException as error:
            shutil.rmtree(folder, ignore_errors=True)
            failure = error
    failures = gather_objects(None if failure is None else f"{type(failure).__name__}: {failure}", world)
    try:
        if failure is not None:
            raise failure
        failed = [(rank, why) for rank, why in enumerate(failures) if why]
        if failed:
            rank, why = failed[0]
            raise RecboleExtError(f"rank {rank} could not load the data, so no rank trains ({why})")
        if world.local_rank != 0:
            value = from_files(folder)
    finally:
        gather_objects(None, world)  # every rank of the machine has mapped the files (or failed)
        if world.local_rank == 0:
            shutil.rmtree(folder, ignore_errors=True)  # mapped pages stay readable until unmapped
    return value


def loss_terms(interaction: Any, iid_field: str) -> int:
    """How many terms a batch's loss averages over: its non-padding targets (every model here)."""
    return int(torch.count_nonzero(interaction[iid_field]))


class LossModule(torch.nn.Module):
    """``model.calculate_loss`` as a module's forward, so DDP's forward wraps the loss."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, interaction: Any) -> torch.Tensor:
        return self.model.calculate_loss(interaction)


class DataParallelTrainer:
    """Mixin for a RecBole trainer class (``data_parallel(cls)``): DDP training, gathered evaluation.

    See the module docstring for what is sharded and exact.
    """

    world: World

    def __init__(self, config: Any, model: torch.nn.Module) -> None:
        super().__init__(config, model)
        self.iid_field = config["ITEM_ID_FIELD"]
        on_gpu = self.device.type == "cuda"
        # static_graph: the same parameters take part in every step (also those some losses leave out).
        self.data_parallel = torch.nn.parallel.DistributedDataParallel(
            LossModule(model), device_ids=[self.device] if on_gpu else None, static_graph=True)
        self.eval_collector = GatheredCollector(config, self.world)
        self._shares: list[tuple[int, int]] = []

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._shares = train_data.shares  # the sharded loader's record of the pass it is making
        return super()._train_epoch(train_data, epoch_idx, loss_func=loss_func or self._shared_loss,
                                    show_progress=show_progress and self.world.is_main)

    def _shared_loss(self, interaction: Any) -> torch.Tensor:
        """This rank's loss, weighted so DDP's gradient average is the whole batch's gradient."""
        real_rows, _ = self._shares[-1]
        terms = torch.tensor([float(loss_terms(interaction, self.iid_field) if real_rows else 0)], device=self.device)
        total = terms.clone()
        dist.all_reduce(total)  # a lost peer here is reported by the pipeline's guard around training
        loss = self.data_parallel(interaction) * (self.world.size * terms / total.clamp(min=1)).squeeze()
        # The logged loss is the whole batch's (the mean of the weighted losses), not this rank's.
        logged = loss.detach().clone()
        dist.all_reduce(logged)
        return loss + (logged / self.world.size - loss).detach()

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if self.world.is_main:
            super()._save_checkpoint(epoch, verbose=verbose, **kwargs)

    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if not eval_data:
            return None
        if load_best_model:  # rank 0 reads its checkpoint; the others get the weights from it
            if self.world.is_main:
                self._load_best(model_file)
            broadcast_module(self.model, self.world)
        self.eval_collector.shares = eval_data.shares  # the sharded loader's record of the pass it is making
        with collective("evaluation"):
            return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress and self.world.is_main)

    def _load_best(self, model_file: str | None) -> None:
        checkpoint = load_trusted_checkpoint(model_file or self.saved_model_file, map_location=self.device)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.logger.info(f"Loading model structure and parameters from {model_file or self.saved_model_file}")


def data_parallel(trainer_class: type, world: World) -> type:
    """``trainer_class`` with :class:`DataParallelTrainer` mixed in, for ``world``."""
    return type(f"DataParallel{trainer_class.__name__}", (DataParallelTrainer, trainer_class), {"world": world})


def broadcast_module(module: torch.nn.Module, world: World) -> None:
    """Rank 0's parameters and buffers on every rank."""
    with collective("sending the model"):
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


class GatheredCollector(Collector):
    """RecBole's ``Collector`` whose per-row results come from every rank, in one-process order.

    ``shares`` is the evaluation loader's list of ``(rows of the share, rows built)`` per batch
    (:class:`recbole_ext.data.shards.ShardedBatches`): rank r's rows of batch b follow rank r-1's, as in the whole batch.
    """

    def __init__(self, config: Any, world: World) -> None:
        super().__init__(config)
        self.world = world
        self.shares: list[tuple[int, int]] = []

    def get_data_struct(self):
        struct = super().get_data_struct()
        local = {key: struct[key] for key in ROW_KEYS if key in struct}
        everyone = gather_objects((list(self.shares), local), self.world)
        for key in local:
            pieces_per_rank = []
            for shares, rows in everyone:
                built = rows[key].split([n_built for _, n_built in shares])
                pieces_per_rank.append([piece[:n_real] for piece, (n_real, _) in zip(built, shares)])
            n_batches = len(pieces_per_rank[0])
            struct.set(key, torch.cat([pieces[b] for b in range(n_batches) for pieces in pieces_per_rank]))
        return struct
