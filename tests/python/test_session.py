"""arl2._C.Session: the C++ generation session (csrc/inference/session.h, whose bit-for-bit resume, forks,
re-cache and errors the Catch2 tests check in full) as Python sees it: an endless iterator of blocks whose prompt
switches, whose state saves, loads and forks, and whose keyword arguments are checked as the config's."""
import pytest
import torch

import arl2  # noqa: F401  (loads the op library)

try:
    from arl2 import _C
except ImportError as e:
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

OPTIONS = dict(frames_per_block=2, latent_height=4, latent_width=6, kv_window_frames=6, kv_sink_frames=2)


def tiny_hybrid(device="cpu"):
    dit = _C.WanDiT("tiny", dtype="float32", device=device)
    dit.convert_to_hybrid(ratio=0.5)
    with torch.no_grad():
        for p in dit.state_dict().values():
            p.normal_(0.0, 0.2)
    return dit


def blocks(session, n):
    return [next(session) for _ in range(n)]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.requires_cuda)])
def test_save_load_and_fork_continue_as_a_session_that_never_stopped(tmp_path, device):
    dit = tiny_hybrid(device)
    text, other = torch.randn(1, 5, 32, device=device), torch.randn(1, 7, 32, device=device)
    whole = _C.Session(dit, text, seed=5, **OPTIONS)
    blocks(whole, 2)
    whole.set_prompt(other)
    blocks(whole, 2)
    expected = blocks(whole, 3)

    session = _C.Session(dit, text, seed=5, **OPTIONS)
    first = blocks(session, 2)
    assert [tuple(b.shape) for b in first] == [(1, 16, 2, 4, 6)] * 2
    session.set_prompt(other)
    blocks(session, 2)
    session.save(str(tmp_path / "state.safetensors"))
    fork = session.fork()
    loaded = _C.Session.load(dit, str(tmp_path / "state.safetensors"), **OPTIONS)
    assert (loaded.blocks_done, loaded.frames_done) == (4, 8)
    assert torch.equal(loaded.prompt, other)
    for got in (blocks(loaded, 3), blocks(fork, 3), blocks(session, 3)):
        assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert session.cache_bytes == loaded.cache_bytes > 0


def test_bad_input_fails_with_a_clear_message(tmp_path):
    dit = tiny_hybrid()
    text = torch.randn(1, 5, 32)
    with pytest.raises(TypeError, match="kv_windw_frames"):
        _C.Session(dit, text, kv_windw_frames=6)
    with pytest.raises(RuntimeError, match=r"Session.kv_sink_frames"):
        _C.Session(dit, text, **{**OPTIONS, "kv_sink_frames": -1})
    with pytest.raises(RuntimeError, match="set inference.kv_window_frames"):
        _C.Session(dit, text, frames_per_block=2, latent_height=4, latent_width=6)
    session = _C.Session(dit, text, **OPTIONS)
    with pytest.raises(RuntimeError, match="one prompt for each of the run's 1 videos"):
        session.set_prompt(torch.randn(2, 5, 32))
    dit.save(str(tmp_path / "weights.safetensors"))
    with pytest.raises(RuntimeError, match="not a saved session"):
        _C.Session.load(dit, str(tmp_path / "weights.safetensors"), **OPTIONS)
