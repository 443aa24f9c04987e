"""arl2._C's generator binding: an iterator of finished blocks over the C++ ARGenerator (whose loop the
Catch2 tests check against the model's own calls)."""
import pytest
import torch

import arl2  # noqa: F401  (loads the op library)

try:
    from arl2 import _C
except ImportError as e:
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)


def tiny_hybrid():
    dit = _C.WanDiT("tiny", dtype="float32")
    dit.convert_to_hybrid(ratio=1.0)
    with torch.no_grad():
        for p in dit.state_dict().values():
            p.normal_(0.0, 0.2)
    return dit


def test_blocks_stream_in_order_and_the_seed_decides():
    dit = tiny_hybrid()
    text = torch.randn(2, 5, 32)
    options = dict(frames_per_block=2, latent_height=4, latent_width=6)
    run = dit.generate(text, latent_frames=6, seed=3, **options)
    assert run.num_blocks == 3
    blocks = list(run)
    assert run.blocks_done == 3
    assert [tuple(b.shape) for b in blocks] == [(2, 16, 2, 4, 6)] * 3
    again = torch.cat(list(dit.generate(text, latent_frames=6, seed=3, **options)), 2)
    assert torch.equal(torch.cat(blocks, 2), again)
    other = torch.cat(list(dit.generate(text, latent_frames=6, seed=4, **options)), 2)
    assert not torch.equal(again, other)


def test_a_bad_request_fails_before_any_work():
    dit = tiny_hybrid()
    with pytest.raises(RuntimeError, match=r"latent frames \(5\) must be a positive whole number of blocks"):
        dit.generate(torch.randn(1, 5, 32), latent_frames=5, frames_per_block=2, latent_height=4, latent_width=6)
    with pytest.raises(RuntimeError, match=r"text embeddings must be"):
        dit.generate(torch.randn(1, 5, 16), latent_frames=4, frames_per_block=2, latent_height=4, latent_width=6)


@pytest.mark.requires_cuda
def test_running_out_of_device_memory_raises_torchs_out_of_memory_error():
    # keys and values of the tiny softmax model for 300000 latent frames of 60 x 104: 240 GB a layer
    dit = _C.WanDiT("tiny", dtype="float32", device="cuda")
    with pytest.raises(torch.OutOfMemoryError, match="out of memory"):
        dit.generate(torch.randn(1, 5, 32), latent_frames=300000)
    torch.cuda.empty_cache()


@pytest.mark.requires_cuda
@pytest.mark.parametrize("ratio", [1.0, 0.5], ids=["hybrid100", "hybrid50"])
def test_cuda_graphs_replay_the_eager_passes_exactly(ratio):
    # hybrid100: blocks 1.. replay a captured pass; hybrid50 (KV caches grow): every pass runs eagerly
    dit = _C.WanDiT("tiny", dtype="float32", device="cuda")
    dit.convert_to_hybrid(ratio=ratio)
    with torch.no_grad():
        for p in dit.state_dict().values():
            p.normal_(0.0, 0.2)
    text = torch.randn(2, 5, 32, device="cuda")
    options = dict(latent_frames=8, seed=5, frames_per_block=2, latent_height=4, latent_width=6)
    graphed = torch.cat(list(dit.generate(text, cuda_graphs=True, **options)), 2)
    eager = torch.cat(list(dit.generate(text, cuda_graphs=False, **options)), 2)
    assert torch.equal(graphed, eager)


@pytest.mark.requires_cuda
def test_generations_one_after_another_hold_no_more_memory():
    # each generation's captures reuse the last one's stream, and with it the libraries' per-stream workspaces
    dit = _C.WanDiT("tiny", dtype="float32", device="cuda")
    dit.convert_to_hybrid(ratio=1.0)
    text = torch.randn(1, 5, 32, device="cuda")
    options = dict(latent_frames=4, seed=2, frames_per_block=2, latent_height=4, latent_width=6, cuda_graphs=True)
    held = []
    for _ in range(4):
        list(dit.generate(text, **options))
        torch.cuda.synchronize()
        held.append(torch.cuda.memory_allocated())
    assert held[1:] == [held[1]] * 3, held


@pytest.mark.requires_cuda
def test_blocks_run_eagerly_while_hybrid_layers_record_diagnostics():
    # recording reads values back to the host, which a captured pass cannot do
    dit = _C.WanDiT("tiny", dtype="float32", device="cuda")
    dit.convert_to_hybrid(ratio=1.0)
    dit.set_diagnostics(True)
    text = torch.randn(1, 5, 32, device="cuda")
    options = dict(latent_frames=4, seed=2, frames_per_block=2, latent_height=4, latent_width=6)
    graphed = torch.cat(list(dit.generate(text, cuda_graphs=True, **options)), 2)
    assert dit.diagnostics()
    eager = torch.cat(list(dit.generate(text, cuda_graphs=False, **options)), 2)
    assert torch.equal(graphed, eager)
