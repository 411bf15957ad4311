"""The fast paths compute what the plain ones do: compiled against eager steps, D scoring
real and fake batches in one pass against two."""
import io
import math
import os
import warnings

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

from genbench.config import TrainSettings
from genbench.errors import GenbenchError
from genbench.models import build_model
from genbench.train import loop, make_trainer
from genbench.train.loop import COMPILE_MIN_STEPS, compile_step

POINTS = np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32)


def _trainer(model: str, settings: TrainSettings, seeds=(0, 1), params=None):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_model(model, (2,), params or {}))
    return make_trainer(models, POINTS, POINTS[:64], settings, list(seeds))


def test_compile_auto_compiles_only_runs_long_enough_to_repay_it():
    steps_per_epoch = 256 // 64
    short = TrainSettings(epochs=3, batch_size=64, compile="auto")
    long = short.model_copy(update={"epochs": COMPILE_MIN_STEPS // steps_per_epoch})
    assert not _trainer("mlp-gan", short).compiles()
    assert _trainer("mlp-gan", long).compiles()
    assert _trainer("mlp-gan", short.model_copy(update={"compile": True})).compiles()
    assert not _trainer("mlp-gan", long.model_copy(update={"compile": False})).compiles()


def test_compiled_code_is_cached_under_genbench_unless_the_user_says_where(monkeypatch, tmp_path):
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for preset in (None, default_cache_dir()):  # unset, or torch's own temporary default
        if preset is None:
            monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
        else:
            monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", preset)
        compile_step(lambda x: x + 1)  # lazy: compiles at the first call only
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "genbench" / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    compile_step(lambda x: x + 1)
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")


def test_compile_without_a_cpp_compiler_is_named(monkeypatch):
    monkeypatch.setattr(loop.shutil, "which", lambda name: None)
    with pytest.raises(GenbenchError, match="compile: true needs a C\\+\\+ compiler"):
        compile_step(lambda x: x + 1)


@pytest.mark.slow
def test_compiled_vae_steps_match_eager_ones(monkeypatch, request):
    """Three steps of two stacked seeds and a validation (the hold-out pass goes through
    the compiled function too, as a graph without gradients), compiled by inductor and
    eager, from the same weights and streams: the same losses, hold-out losses and
    weights up to float reassociation. The compiled code is cached in pytest's cache
    folder (not the user's), so reruns skip the C++ compiler."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(request.config.cache.mkdir("inductor")))
    params = {"hidden": 16, "latent": 4, "n_res": 0}
    runs = {}
    for flag in (False, True):
        trainer = _trainer("mlp-vae", TrainSettings(epochs=1, batch_size=64, compile=flag), params=params)
        losses = [trainer.train_batch(trainer.batch(idx))["loss"] for idx in trainer.streams.batches(256, 64)[:3]]
        trainer.set_mode(False)
        frames = counters["frames"]["ok"]
        with torch.no_grad():
            held = trainer.validate()["holdout_loss"]
        assert (counters["frames"]["ok"] > frames) == flag  # the compiled run traced the hold-out pass
        runs[flag] = (torch.stack(losses), [p.detach().clone() for p in trainer.net.parameters()], held)
    torch.testing.assert_close(runs[True][0], runs[False][0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(runs[True][2], runs[False][2], rtol=1e-4, atol=1e-5)
    assert runs[True][2].shape == (2,) and bool(runs[True][2].isfinite().all())
    for compiled, eager in zip(runs[True][1], runs[False][1]):
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    assert not torch.equal(runs[True][1][0], _trainer("mlp-vae", TrainSettings(epochs=1), params=params).net.parameters()[0])


@pytest.mark.slow
def test_compiled_bf16_vae_graphs_are_ones_the_autograd_cache_keeps(monkeypatch, request):
    """A compiled graph that enters autocast itself is refused by torch's autograd cache
    ("Unsupported call_function target _enter_autocast"), so every worker process traced
    and partitioned the VAE's step again (about a second each). The trainer enters
    autocast around the compiled call instead: its step and hold-out graphs are cached."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(request.config.cache.mkdir("inductor")))
    trainer = _trainer("mlp-vae", TrainSettings(epochs=1, batch_size=64, compile=True, precision="bf16"),
                       params={"hidden": 16, "latent": 4, "n_res": 0})
    before = dict(counters["aot_autograd"])
    trainer.run_epoch()
    after = counters["aot_autograd"]
    assert after["autograd_cache_bypass"] == before.get("autograd_cache_bypass", 0)
    looked_up = sum(after[k] - before.get(k, 0) for k in ("autograd_cache_hit", "autograd_cache_miss"))
    assert looked_up >= 2  # the training step's graph and the hold-out pass's


def test_one_discriminator_pass_over_real_and_fake_gives_the_two_passes_logits():
    trainer = _trainer("mlp-gan", TrainSettings(epochs=1, batch_size=64))
    assert trainer.joint_d
    real, fake = torch.randn(2, 64, 2), torch.randn(2, 48, 2)
    joint = trainer.d_logits(real, fake)
    trainer.joint_d = False
    apart = trainer.d_logits(real, fake)
    assert [t.shape for t in joint] == [(2, 64), (2, 48)]
    for a, b in zip(joint, apart):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_discriminator_with_batch_statistics_scores_real_and_fake_apart():
    models = [build_model("dcgan28", (1, 28, 28), {})]
    images = np.zeros((8, 1, 28, 28), np.uint8)
    trainer = make_trainer(models, images, images, TrainSettings(epochs=1, batch_size=4), [0])
    assert not trainer.joint_d  # BatchNorm: a joint pass would mix real and fake batch statistics


def _adam_run(make, steps=30, reload_at=None):
    """Weights and Adam state after ``steps`` cosine-scheduled steps on a small stacked-looking
    problem; at ``reload_at`` the optimiser is rebuilt from its state dict (a resume)."""
    torch.manual_seed(0)
    params = [torch.randn(3, 5, 7, requires_grad=True), torch.randn(3, 1, 7, requires_grad=True)]
    target = torch.randn(3, 4, 7)
    opt = make(params)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    x = torch.randn(3, 4, 5)
    for step in range(steps):
        if step == reload_at:  # through a file, as a checkpoint goes
            buffer = io.BytesIO()
            torch.save(opt.state_dict(), buffer)
            buffer.seek(0)
            opt = make(params)
            opt.load_state_dict(torch.load(buffer))
            schedule.optimizer = opt
        opt.zero_grad(set_to_none=True)
        ((torch.baddbmm(params[1], x, params[0]) - target) ** 2).sum().backward()
        opt.step()
        schedule.step()
    return [p.detach().clone() for p in params], opt.state_dict()


@pytest.mark.parametrize("reload_at", [None, 1, 17])
def test_lean_adam_steps_are_bit_identical_to_fused_adam(reload_at):
    from genbench.train.adam import LeanAdam

    reference, ref_state = _adam_run(lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.9), fused=True), reload_at=reload_at)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. the scheduler's "lr_scheduler.step() before optimizer.step()"
        lean, lean_state = _adam_run(lambda p: LeanAdam(p, lr=1e-2, betas=(0.5, 0.9)), reload_at=reload_at)
    for a, b in zip(reference, lean):
        assert torch.equal(a, b)
    for i in ref_state["state"]:
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(ref_state["state"][i][key], lean_state["state"][i][key]), key


def test_lean_adam_runs_step_hooks_once_and_falls_back_for_a_parameter_without_gradient():
    from genbench.train.adam import LeanAdam

    used, unused, twin_used = (torch.zeros(4, requires_grad=True) for _ in range(3))
    opt = LeanAdam([used, unused], lr=0.1, betas=(0.9, 0.999))
    twin = torch.optim.Adam([twin_used, torch.zeros(4, requires_grad=True)], lr=0.1, fused=True)
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", args, kwargs)))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", args, kwargs)))
    for _ in range(3):
        for o, p in ((opt, used), (twin, twin_used)):
            o.zero_grad(set_to_none=True)
            (p * torch.arange(4.0)).sum().backward()
            o.step()
    assert calls == [("pre", (opt,), {}), ("post", (opt,), {})] * 3  # as Adam's hooks see opt.step()
    assert torch.equal(used, twin_used) and torch.equal(unused, torch.zeros(4))


def test_lean_adam_counts_each_parameter_s_steps_as_adam_when_some_steps_leave_one_without_gradient():
    from genbench.train.adam import LeanAdam

    def run(make):
        torch.manual_seed(0)
        params = [torch.randn(5, requires_grad=True), torch.randn(5, requires_grad=True)]
        opt = make(params)
        for step in range(12):
            opt.zero_grad(set_to_none=True)
            loss = params[0].pow(2).sum() + (params[1].pow(2).sum() if step % 4 else 0)  # every 4th: no grad for p1
            loss.backward()
            opt.step()
        return params, opt.state_dict()

    lean, lean_state = run(lambda p: LeanAdam(p, lr=0.1, betas=(0.9, 0.999)))
    reference, ref_state = run(lambda p: torch.optim.Adam(p, lr=0.1, fused=True))
    assert all(torch.equal(a, b) for a, b in zip(lean, reference))
    assert [float(ref_state["state"][i]["step"]) for i in (0, 1)] == [12.0, 9.0]
    for i in (0, 1):
        assert torch.equal(lean_state["state"][i]["step"], ref_state["state"][i]["step"])


def test_lean_adam_steps_under_the_profiler_with_its_record():
    from genbench.train.adam import LeanAdam

    param = torch.zeros(3, requires_grad=True)
    opt = LeanAdam([param], lr=0.1, betas=(0.9, 0.999))
    with torch.profiler.profile() as prof:
        for _ in range(2):
            opt.zero_grad()
            param.sum().backward()
            opt.step()
    names = [event.name for event in prof.events()]
    assert names.count("Optimizer.step#LeanAdam.step") == 2
    assert names.count("Optimizer.zero_grad#LeanAdam.zero_grad") == 2


def test_lean_adam_with_parameters_of_two_dtypes_steps_as_fused_adam_and_builds_its_lists_once(monkeypatch):
    from genbench.train.adam import LeanAdam

    def run(make):
        torch.manual_seed(0)
        params = [torch.randn(6, requires_grad=True), torch.randn(6, dtype=torch.float64, requires_grad=True)]
        opt = make(params)
        for _ in range(5):
            opt.zero_grad(set_to_none=True)
            (params[0].pow(2).sum() + params[1].pow(3).sum()).backward()
            opt.step()
        return params

    builds = []
    build = LeanAdam._build
    monkeypatch.setattr(LeanAdam, "_build", lambda self: builds.append(1) or build(self))
    lean = run(lambda p: LeanAdam(p, lr=0.1, betas=(0.9, 0.999)))
    reference = run(lambda p: torch.optim.Adam(p, lr=0.1, fused=True))
    assert all(torch.equal(a, b) for a, b in zip(lean, reference))
    assert len(builds) == 1  # found mixed once; the other four steps go straight to Adam.step


def test_lean_adam_step_hooks_see_the_arguments_adam_s_hooks_see():
    from genbench.train.adam import LeanAdam

    def hook_calls(make):
        param = torch.zeros(3, requires_grad=True)
        opt, calls = make([param]), []
        opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", len(args), sorted(kwargs))))
        opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", len(args), sorted(kwargs))))

        def closure():
            opt.zero_grad()
            loss = param.pow(2).sum()
            loss.backward()
            return loss

        opt.step()
        opt.step(closure)
        opt.step(closure=closure)
        return calls

    lean = hook_calls(lambda p: LeanAdam(p, lr=0.1, betas=(0.9, 0.999)))
    assert lean == hook_calls(lambda p: torch.optim.Adam(p, lr=0.1, fused=True))
    assert [c[1:] for c in lean[::2]] == [(1, []), (2, []), (1, ["closure"])]  # (opt,), (opt, fn), (opt,) + closure=


@pytest.mark.parametrize("copy_with", ["deepcopy", "pickle"])
def test_a_copied_lean_adam_steps_on_as_fused_adam(copy_with, monkeypatch):
    """Optimizer pickles only its state and groups: a copy rebuilds LeanAdam's lists."""
    import copy
    import pickle

    from genbench.train.adam import LeanAdam

    builds = []
    build = LeanAdam._build
    monkeypatch.setattr(LeanAdam, "_build", lambda self: builds.append(self) or build(self))

    def run(make):
        torch.manual_seed(0)
        params = [torch.randn(5, requires_grad=True), torch.randn(2, 5, requires_grad=True)]
        opt = make(params)
        for step in range(8):
            if step == 4:  # a copy taken mid-run steps on in the original's place
                opt = copy.deepcopy(opt) if copy_with == "deepcopy" else pickle.loads(pickle.dumps(opt))
                params = opt.param_groups[0]["params"]
            opt.zero_grad(set_to_none=True)
            (params[0].pow(2).sum() + (params[1] * params[0]).sum()).backward()
            opt.step()
        return params, opt.state_dict()

    lean, lean_state = run(lambda p: LeanAdam(p, lr=0.1, betas=(0.9, 0.999)))
    reference, ref_state = run(lambda p: torch.optim.Adam(p, lr=0.1, fused=True))
    assert all(torch.equal(a, b) for a, b in zip(lean, reference))
    for i in (0, 1):
        assert torch.equal(lean_state["state"][i]["step"], ref_state["state"][i]["step"])
    # the original built its lists after its first step, the copy after its own, both steps on the lean path
    assert len(builds) == 2 and builds[0] is not builds[1]


def test_lean_adam_under_a_grad_scaler_unscales_and_skips_inf_steps_as_fused_adam():
    from genbench.train.adam import LeanAdam

    def run(make):
        torch.manual_seed(0)
        param = torch.randn(6, requires_grad=True)
        opt, scaler = make([param]), torch.amp.GradScaler("cpu", init_scale=2.0**10)
        scales = []
        for step in range(6):
            opt.zero_grad(set_to_none=True)
            loss = param.pow(2).sum() * (float("inf") if step == 2 else 1.0)  # step 2 overflows: skipped
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
        return param, opt.state_dict(), scales

    lean, lean_state, lean_scales = run(lambda p: LeanAdam(p, lr=0.1, betas=(0.9, 0.999)))
    reference, ref_state, ref_scales = run(lambda p: torch.optim.Adam(p, lr=0.1, fused=True))
    assert torch.equal(lean, reference)
    assert lean_scales == ref_scales and lean_scales[2] == 2.0**9  # the overflow halved the scale
    assert float(lean_state["state"][0]["step"]) == float(ref_state["state"][0]["step"]) == 5.0
