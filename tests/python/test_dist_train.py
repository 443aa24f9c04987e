"""Data-parallel training on real c10d backends: W processes, each with a torch.distributed group handed to
arl2._C.Trainer, train the tiny stage-1 model for a few steps at batch_size 1, and must end with the
trainable parameters (and report the losses) of one process with grad_accumulation W. Gloo on the CPU
everywhere; NCCL, one GPU a rank, where the machine has W GPUs (a world of one too: NCCL on a single GPU). In stage 3
each rank trains on its own rollouts, and the ranks keep one model."""
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import save_file

import arl2  # noqa: F401  (loads the op library)

try:
    from arl2 import _C
except ImportError as e:
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "configs", "tiny-train-stage1.yaml")
STEPS = 3
CLIPS = 6  # a share for every rank of a world of 2 or 3


BACKENDS = {"gloo": "cpu", "nccl": "cuda"}


def overrides(data, out, grad_accumulation, device="cpu"):
    return [
        f"data.path={data}",
        f"train.out={out}",
        f"train.grad_accumulation={grad_accumulation}",
        "train.seed=3",
        f"train.device={device}",
    ]


def rank_device(backend, rank):
    return "cpu" if backend == "gloo" else f"cuda:{rank}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_rank(rank, world, port, data, out, backend):
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        trainer = _C.Trainer(
            CONFIG,
            overrides(data, out, 1, rank_device(backend, rank)),
            process_group=dist.group.WORLD,
            timeout_s=60,
        )
        losses = [trainer.step()["loss"] for _ in range(STEPS)]
        params = {name: p.detach().cpu() for name, p in trainer.trainable().items()}
        torch.save({"losses": losses, "params": params}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    g = torch.Generator().manual_seed(11)
    latents = torch.randn(CLIPS, 4, 16, 4, 4, generator=g)
    text = torch.randn(CLIPS, 8, 32, generator=g)
    save_file({"latents": latents, "text_embeddings": text}, str(folder / "clips.safetensors"))
    return str(folder)


def world_case(backend, world):
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    needs = pytest.mark.skipif(backend == "nccl" and gpus < world, reason=f"NCCL needs {world} GPU(s)")
    marks = [needs, pytest.mark.requires_cuda] if backend == "nccl" else [needs]
    return pytest.param(backend, world, marks=marks, id=f"{backend}-{world}")


@pytest.mark.parametrize(
    "backend, world", [world_case("gloo", 2), world_case("gloo", 3), world_case("nccl", 1), world_case("nccl", 2)]
)
def test_world_matches_one_process_on_the_combined_batch(backend, world, clips, tmp_path):
    args = (world, free_port(), clips, str(tmp_path), backend)
    mp.start_processes(train_rank, args=args, nprocs=world, start_method="spawn")

    device = BACKENDS[backend]
    single = _C.Trainer(CONFIG, overrides(clips, str(tmp_path / "single"), world, device))
    single_losses = [single.step()["loss"] for _ in range(STEPS)]
    expected = single.trainable()
    for rank in range(world):
        result = torch.load(os.path.join(tmp_path, f"rank{rank}.pt"))
        assert result["losses"] == pytest.approx(single_losses, rel=1e-5)
        assert result["params"].keys() == expected.keys()
        # A world of 3 sums the ranks' gradients in another order than accumulation does, and Adam divides
        # each update by the gradient's running RMS: an element whose gradient is mostly rounding noise moves
        # by far more than the rounding (phi_q's, up to 1.6e-6 after these 3 steps; a world of 2 is exact).
        for name, p in expected.items():
            torch.testing.assert_close(result["params"][name], p.detach().cpu(), rtol=1e-5, atol=5e-6, msg=name)


def nan_on_rank_1(rank, world, port, data, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        trainer = _C.Trainer(CONFIG, overrides(data, out, 1), process_group=dist.group.WORLD, timeout_s=60)
        if rank == 1:
            with torch.no_grad():
                next(iter(trainer.trainable().values())).fill_(float("nan"))
        try:
            trainer.step()
            message = "no error"
        except RuntimeError as e:
            message = str(e)
        with open(os.path.join(out, f"rank{rank}.txt"), "w") as f:
            f.write(message)
    finally:
        dist.destroy_process_group()


def test_a_non_finite_loss_on_one_rank_stops_every_rank(clips, tmp_path):
    # Not after the collective's timeout: at the step, with the message of a single process.
    mp.start_processes(nan_on_rank_1, args=(2, free_port(), clips, str(tmp_path)), nprocs=2, start_method="spawn")
    for rank in range(2):
        message = (tmp_path / f"rank{rank}.txt").read_text()
        assert "the mean loss over the ranks is nan at step 1; the run stops before the optimizer step" in message


def test_a_process_group_must_be_one(clips, tmp_path):
    with pytest.raises(RuntimeError, match="process_group must be a torch.distributed ProcessGroup"):
        _C.Trainer(CONFIG, overrides(clips, str(tmp_path), 1), process_group=object())


def stop_rank_1(rank, world, port, data, out, how):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    trainer = _C.Trainer(CONFIG, overrides(data, out, 1), process_group=dist.group.WORLD, timeout_s=TIMEOUT_S)
    trainer.step()
    if rank == 1:
        if how == "dies":
            os._exit(1)
        time.sleep(3 * TIMEOUT_S)  # hangs past the others' timeout
        os._exit(0)
    start = time.monotonic()
    try:
        trainer.step()
        message = "no error"
    except RuntimeError as e:
        message = str(e)
    with open(os.path.join(out, "rank0.txt"), "w") as f:
        f.write(f"{time.monotonic() - start:.1f}\n{message}")
    os._exit(0)  # no orderly shutdown with a peer gone


TIMEOUT_S = 5


@pytest.mark.parametrize("how", ["dies", "hangs"])
def test_a_rank_that_dies_or_hangs_stops_the_others_within_the_timeout(how, clips, tmp_path):
    ctx = mp.get_context("spawn")
    port = free_port()
    ranks = [ctx.Process(target=stop_rank_1, args=(r, 2, port, clips, str(tmp_path), how)) for r in range(2)]
    for p in ranks:
        p.start()
    for p in ranks:
        p.join(timeout=120)
        assert p.exitcode is not None, "a rank still runs: the failure was not noticed"
    seconds, message = (tmp_path / "rank0.txt").read_text().split("\n", 1)
    assert "dist: all-reduce failed on rank 0 of 2" in message
    assert float(seconds) < 4 * TIMEOUT_S


def train_and_save(rank, world, port, data, out, resume_from, steps):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        trainer = _C.Trainer(CONFIG, overrides(data, out, 1), process_group=dist.group.WORLD, timeout_s=60)
        if resume_from:
            trainer.resume(resume_from)
        else:
            trainer.step()
            trainer.save_checkpoint(os.path.join(out, "after_1.safetensors"))
        for _ in range(steps):
            trainer.step()
        params = {name: p.detach().cpu() for name, p in trainer.trainable().items()}
        torch.save(params, os.path.join(out, f"{'resumed' if resume_from else 'straight'}{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_a_restarted_world_resumes_exactly(clips, tmp_path):
    # One run of 1 + 2 steps; a second run of the same world size resumes its checkpoint after step 1 and
    # takes the same 2 steps: bit for bit the same parameters on every rank.
    out = str(tmp_path)
    mp.start_processes(train_and_save, args=(2, free_port(), clips, out, None, 2), nprocs=2, start_method="spawn")
    checkpoint = os.path.join(out, "after_1.safetensors")
    mp.start_processes(train_and_save, args=(2, free_port(), clips, out, checkpoint, 2), nprocs=2,
                       start_method="spawn")
    for rank in range(2):
        straight = torch.load(os.path.join(out, f"straight{rank}.pt"))
        resumed = torch.load(os.path.join(out, f"resumed{rank}.pt"))
        for name, p in straight.items():
            assert torch.equal(resumed[name], p), name


STAGE3 = ["train.stage=3", "train.rollout_frames=8", "train.rollout_buffer=1", "train.rollout_refresh_steps=1",
          "train.checkpoint_every=1", "train.rollout_clip_loss_weight=1"]


def stage3_rank(rank, world, port, data, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        trainer = _C.Trainer(CONFIG, overrides(data, out, 1) + STAGE3, process_group=dist.group.WORLD, timeout_s=60)
        start = {name: p.detach().clone() for name, p in trainer.trainable().items()}
        losses = [trainer.step()["loss"] for _ in range(2)]
        params = {name: p.detach().cpu() for name, p in trainer.trainable().items()}
        torch.save({"losses": losses, "start": start, "params": params}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_a_stage3_world_trains_one_model_from_each_rank_s_rollouts(clips, tmp_path):
    # Each rank rolls out its own clips; the averaged gradients keep one model on every rank.
    mp.start_processes(stage3_rank, args=(2, free_port(), clips, str(tmp_path)), nprocs=2, start_method="spawn")
    ranks = [torch.load(os.path.join(tmp_path, f"rank{rank}.pt")) for rank in range(2)]
    assert ranks[0]["losses"] == ranks[1]["losses"]  # the mean over the ranks
    assert all(loss > 0 for loss in ranks[0]["losses"])
    for name, p in ranks[0]["params"].items():
        assert torch.equal(ranks[1]["params"][name], p), name
    assert any(not torch.equal(p, ranks[0]["start"][name]) for name, p in ranks[0]["params"].items())
