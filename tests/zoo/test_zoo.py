"""PTM zoo: end-to-end training on tiny data, storage, hash checks, resume equals an uninterrupted run."""

import json
from dataclasses import replace

import pytest
import torch

from ddstudy.data.build import VariantSpec, build_variant
from ddstudy.errors import DDStudyError
from ddstudy.report.zoo import plot_zoo_accuracy, zoo_frame
from ddstudy.timing import Segments
from ddstudy.zoo.store import load_ptm, write_zoo_index, zoo_job_inits, zoo_job_name
from ddstudy.zoo.train import ZooJob, ZooTrainConfig, train_zoo_model

CONFIG = ZooTrainConfig(epochs=3, batch_size=64, save_epochs=(1, 3))


@pytest.fixture(scope="module")
def variant(tmp_path_factory, fashion_options):
    spec = VariantSpec("fashion-mnist", "color", 0.9, 3, test_attrs="uniform")
    folder = tmp_path_factory.mktemp("ds") / spec.name
    build_variant(spec, folder, fashion_options)
    return spec.name, folder


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, variant):
    name, folder = variant
    root = tmp_path_factory.mktemp("zoo")
    runs = {}
    for init in (0, 1):
        job = ZooJob(name, "LeNet", init)
        runs[init] = train_zoo_model(job, folder, root / name / "LeNet" / f"init{init}", CONFIG)
    write_zoo_index(root, name)
    return root, runs


def test_checkpoints_and_metadata(zoo, variant):
    root, runs = zoo
    name = variant[0]
    folder = root / name / "LeNet" / "init0"
    assert sorted(p.name for p in folder.iterdir()) == [
        "epoch1.json",
        "epoch1.safetensors",
        "epoch3.json",
        "epoch3.safetensors",
        "run.json",
    ]
    meta = json.loads((folder / "epoch3.json").read_text())
    for key in ("dataset", "arch", "init", "epoch", "seed", "train_acc", "test", "config", "weights_sha256"):
        assert key in meta
    assert meta["test"]["acc_aligned"] is not None and meta["test"]["acc_conflicting"] is not None
    assert len(runs[0]["history"]) == 3 and runs[0]["epochs_saved"] == [1, 3]
    assert not list(folder.parent.glob(".*partial"))
    index = json.loads((root / name / "index.json").read_text())
    assert [(c["init"], c["epoch"]) for c in index["checkpoints"]] == [(0, 1), (0, 3), (1, 1), (1, 3)]


def test_training_learns_something(zoo):
    history = zoo[1][0]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_loaded_ptm_reproduces_outputs(zoo, variant):
    root, _ = zoo
    name, folder = variant
    model, meta = load_ptm(root, name, "LeNet", 0, 3)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    again, _ = load_ptm(root, name, "LeNet", 0, 3)
    x = torch.randn(4, 3, 28, 28)
    assert torch.equal(model(x), again(x))
    from ddstudy.data.store import load_variant
    from ddstudy.data.tensors import Normalization, to_tensors
    from ddstudy.metrics import accuracy_report

    normalization = Normalization(tuple(meta["normalization"]["mean"]), tuple(meta["normalization"]["std"]))
    test = to_tensors(load_variant(folder).test, normalization)
    assert accuracy_report(model, test, torch.device("cpu"), 10)["acc"] == pytest.approx(meta["test"]["acc"])


def test_same_seed_same_weights_other_init_differs(zoo):
    root, _ = zoo
    a = next(root.glob("*/LeNet/init0/epoch3.json"))
    b = next(root.glob("*/LeNet/init1/epoch3.json"))
    assert json.loads(a.read_text())["weights_sha256"] != json.loads(b.read_text())["weights_sha256"]


def test_resume_after_kill_equals_uninterrupted(tmp_path, variant):
    name, folder = variant
    job = ZooJob(name, "ConvNetW32", 0)
    config = ZooTrainConfig(epochs=3, batch_size=64, save_epochs=(1, 2, 3), milestones=(2,))
    straight = train_zoo_model(job, folder, tmp_path / "straight", config)

    def kill_after_epoch_2(epoch):
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        train_zoo_model(
            job, folder, tmp_path / "resumed", config, on_epoch_end=kill_after_epoch_2, segments=Segments("epochs")
        )
    assert not (tmp_path / "resumed").exists() and (tmp_path / ".resumed.partial" / "resume.json").exists()
    epochs_run, segments = [], Segments("epochs")
    resumed = train_zoo_model(
        job, folder, tmp_path / "resumed", config, on_epoch_end=epochs_run.append, segments=segments
    )
    assert epochs_run == [3]
    # the job's time covers both processes: the killed one's epochs 1-2 (from the resume state), then epoch 3
    record = segments.record(segments.last)
    assert [(s["from"], s["to"]) for s in record["segments"]] == [(0, 2), (2, 3)] and record["complete"]
    assert record["unit"] == "epochs" and record["done"] == 3 and record["wall_s"] > 0
    for epoch in (1, 2, 3):
        first = json.loads((tmp_path / "straight" / f"epoch{epoch}.json").read_text())
        second = json.loads((tmp_path / "resumed" / f"epoch{epoch}.json").read_text())
        assert first["weights_sha256"] == second["weights_sha256"], epoch
    assert straight == resumed


def test_changed_recipe_does_not_resume(tmp_path, variant):
    name, folder = variant
    job = ZooJob(name, "LeNet", 0)

    def kill(epoch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_zoo_model(job, folder, tmp_path / "z", ZooTrainConfig(epochs=2, batch_size=64), on_epoch_end=kill)
    seen = []
    train_zoo_model(
        job,
        folder,
        tmp_path / "z",
        ZooTrainConfig(epochs=2, batch_size=32),
        on_epoch_end=seen.append,
    )
    assert seen == [1, 2]


def test_tampered_checkpoint_is_refused(tmp_path, zoo, variant):
    import shutil

    root, _ = zoo
    copy = tmp_path / "zoo"
    shutil.copytree(root, copy)
    path = next(copy.glob("*/LeNet/init0/epoch3.safetensors"))
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DDStudyError, match="sha256 differs"):
        load_ptm(copy, variant[0], "LeNet", 0, 3)


def test_missing_ptm_names_the_job(zoo, variant):
    root, _ = zoo
    with pytest.raises(DDStudyError, match="saved epochs: \\[1, 3\\]"):
        load_ptm(root, variant[0], "LeNet", 0, 2)
    with pytest.raises(DDStudyError, match="rule zoo_model"):
        load_ptm(root, variant[0], "AlexNet", 0, 1)


def test_bad_zoo_input(tmp_path, variant):
    with pytest.raises(DDStudyError, match="beyond training"):
        ZooTrainConfig(epochs=10, save_epochs=(5, 20))
    with pytest.raises(DDStudyError, match="unknown model 'ResNet81'"):
        ZooJob(variant[0], "ResNet81", 0)
    with pytest.raises(DDStudyError, match="no meta.json"):
        train_zoo_model(ZooJob(variant[0], "LeNet", 0), tmp_path / "nope", tmp_path / "out", CONFIG)


def test_lr_schedule_matches_multisteplr():
    config = ZooTrainConfig()
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[50, 100], gamma=0.1)
    for epoch in range(1, 151):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(config.lr_at(epoch)), epoch
        optimizer.step()
        scheduler.step()


def test_zoo_table_and_figure(zoo, variant, tmp_path):
    root, _ = zoo
    frame = zoo_frame(root, [variant[0]])
    assert list(frame.columns[:5]) == ["dataset", "arch", "recipe", "init", "epoch"] and len(frame) == 4
    assert set(frame["recipe"]) == {"SGD 0.01, momentum 0.9, wd 0.005, 3 epochs"}
    path = plot_zoo_accuracy(frame, variant[0], tmp_path / "fig.png")
    assert path.stat().st_size > 10_000


def test_two_recipes_of_one_arch_are_never_averaged_together():
    """PTMs and MTT's experts of one architecture on one dataset: one row each in the zoo table, named by recipe."""
    import pandas as pd

    from ddstudy.report.tables import zoo_markdown

    frame = pd.DataFrame(
        {"dataset": ["d"] * 4, "arch": ["LeNet"] * 4, "recipe": ["ptm", "ptm", "expert", "expert"],
         "init": [0, 1, 10, 11], "epoch": [1] * 4, "test_acc": [0.1, 0.3, 0.5, 0.7]}
    )  # fmt: skip
    text = zoo_markdown(frame)
    assert "| LeNet (ptm) | 20.00 ± 10.00 (2) |" in text and "| LeNet (expert) | 60.00 ± 10.00 (2) |" in text
    assert "| LeNet |" in zoo_markdown(frame[frame["recipe"] == "ptm"])  # one recipe: the plain name


def test_inits_trained_together_equal_alone(tmp_path, variant, zoo):
    """``vectorize``: a block's inits in one stacked pass per step; each keeps its initial weights and data order,
    so its checkpoints equal the ones it gets alone (weights to float tolerance: grouped convolutions sum in another
    order; train and test accuracy to one sample in a hundred). Killed after epoch 2 and rerun, it resumes."""
    from safetensors.torch import load_file

    from ddstudy.accel import Accel
    from ddstudy.zoo.train import train_zoo_models

    name, folder = variant
    root, alone = zoo
    jobs = [ZooJob(name, "LeNet", init) for init in (0, 1)]
    outs = [tmp_path / "LeNet" / f"init{init}" for init in (0, 1)]
    together = train_zoo_models(jobs, folder, outs, CONFIG, accel=Accel(vectorize=True))
    for init, run in enumerate(together):
        assert run["accel"]["vectorize"] is True and run["init"] == init
        assert [h["epoch"] for h in run["history"]] == [1, 2, 3]
        for mine, theirs in zip(run["history"], alone[init]["history"], strict=True):
            assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-3)
        for epoch in (1, 3):
            stacked = load_file(outs[init] / f"epoch{epoch}.safetensors")
            single = load_file(root / name / "LeNet" / f"init{init}" / f"epoch{epoch}.safetensors")
            for key, value in single.items():
                torch.testing.assert_close(stacked[key], value, rtol=1e-3, atol=1e-4)
            test = json.loads((outs[init] / f"epoch{epoch}.json").read_text())["test"]
            assert test["acc"] == pytest.approx(alone[init]["history"][epoch - 1]["test"]["acc"], abs=0.01)
    assert not (tmp_path / "LeNet" / ".init0+init1.partial").exists()

    def kill(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    resumed_outs = [tmp_path / "again" / f"init{init}" for init in (0, 1)]
    with pytest.raises(KeyboardInterrupt):
        train_zoo_models(jobs, folder, resumed_outs, CONFIG, accel=Accel(vectorize=True), on_epoch_end=kill)
    # the staging folder carries the job's name, which `report progress` reads back
    assert (tmp_path / "again" / f".{zoo_job_name([0, 1])}.partial" / "resume.json").is_file()
    seen, segments = [], Segments("epochs")
    resumed = train_zoo_models(
        jobs, folder, resumed_outs, CONFIG, accel=Accel(vectorize=True), on_epoch_end=seen.append, segments=segments
    )
    assert seen == [3]
    # stacked inits count epochs once; the killed process's epochs come back from the resume state (saved without
    # segments here: the first call had none to carry, so the record says it is not whole)
    record = segments.record(segments.last)
    assert record["done"] == 3 and not record["complete"]
    assert resumed == together
    for init in (0, 1):
        for epoch in (1, 3):
            a = json.loads((outs[init] / f"epoch{epoch}.json").read_text())["weights_sha256"]
            assert a == json.loads((resumed_outs[init] / f"epoch{epoch}.json").read_text())["weights_sha256"]


def test_a_zoo_job_name_reads_back_as_its_inits():
    """One home for ``init<i>`` / ``init<a>+init<b>``: the staging folder, timing record and benchmark of a zoo job
    are named by zoo_job_name, and the reports parse them with zoo_job_inits."""
    assert zoo_job_name([3]) == "init3" and zoo_job_name(range(2)) == "init0+init1"
    for inits in ([3], [0, 1], [2, 5, 9]):
        assert zoo_job_inits(zoo_job_name(inits)) == inits
        assert zoo_job_inits(f"{zoo_job_name(inits)}.timing.json") == inits
    for other in ("inits", "epoch1", "init0+x", "init", ""):
        assert zoo_job_inits(other) is None


def test_inits_without_vectorize_train_alone(tmp_path, variant, zoo):
    from ddstudy.zoo.train import train_zoo_models

    name, folder = variant
    root, alone = zoo
    jobs = [ZooJob(name, "LeNet", init) for init in (0, 1)]
    segments = Segments("epochs")
    runs = train_zoo_models(jobs, folder, [tmp_path / f"init{i}" for i in (0, 1)], CONFIG, segments=segments)
    assert runs == [alone[0], alone[1]]
    # one job, its inits in turn: one record counting both inits' epochs
    record = segments.record(segments.last)
    assert record["done"] == 2 * CONFIG.epochs and [(s["from"], s["to"]) for s in record["segments"]] == [(0, 6)]
    with pytest.raises(DDStudyError, match="distinct inits"):
        train_zoo_models([jobs[0], jobs[0]], folder, [tmp_path / "a", tmp_path / "b"], CONFIG)


def test_debiased_recipe_weights_the_loss_on_the_plain_batches(tmp_path, variant, zoo, fashion_options):
    """``debias`` in the recipe (MTT's debiased experts): the same initial weights, batches and augmentations as the
    plain recipe, the loss Σ w·CE / Σ w. With one attribute group per class FairDD's weights are all 1, so it
    trains the plain network (to float rounding of the weighted mean); oracle weights on the biased set train
    another one, recorded in every checkpoint's JSON; sequential and stacked training agree."""
    from safetensors.torch import load_file

    from ddstudy.accel import Accel
    from ddstudy.zoo.train import train_zoo_models

    name, folder = variant
    root, alone = zoo
    spec = VariantSpec("fashion-mnist", "color", 1.0, 3, test_attrs="uniform")
    aligned = tmp_path / spec.name
    build_variant(spec, aligned, fashion_options)
    short = ZooTrainConfig(epochs=2, batch_size=64)
    one = train_zoo_model(ZooJob(spec.name, "LeNet", 0), aligned, tmp_path / "p" / "init0", short)
    fair = train_zoo_model(
        ZooJob(spec.name, "LeNet", 0), aligned, tmp_path / "f" / "init0", replace(short, debias="fairdd")
    )
    for key, value in load_file(tmp_path / "p" / "init0" / "epoch2.safetensors").items():
        torch.testing.assert_close(load_file(tmp_path / "f" / "init0" / "epoch2.safetensors")[key], value)
    assert fair["history"][-1]["train_loss"] == pytest.approx(one["history"][-1]["train_loss"], rel=1e-5)

    config = ZooTrainConfig(epochs=3, batch_size=64, save_epochs=(1, 3), debias="oracle")
    job = ZooJob(name, "LeNet", 0)
    run = train_zoo_model(job, folder, tmp_path / "oracle" / "init0", config)
    assert run["config"]["debias"] == "oracle" and run["weighting"] == {"mode": "oracle"}
    meta = json.loads((tmp_path / "oracle" / "init0" / "epoch3.json").read_text())
    assert meta["weighting"] == {"mode": "oracle"} and meta["init_seed"] == alone[0]["init_seed"]
    plain = load_file(root / name / "LeNet" / "init0" / "epoch3.safetensors")
    weighted = load_file(tmp_path / "oracle" / "init0" / "epoch3.safetensors")
    assert any(not torch.equal(plain[k], weighted[k]) for k in plain)
    stacked = train_zoo_models(
        [ZooJob(name, "LeNet", i) for i in (0, 1)], folder, [tmp_path / "s" / f"init{i}" for i in (0, 1)], config,
        accel=Accel(vectorize=True),
    )  # fmt: skip
    assert stacked[0]["history"][-1]["train_loss"] == pytest.approx(run["history"][-1]["train_loss"], rel=1e-3)
    together = load_file(tmp_path / "s" / "init0" / "epoch3.safetensors")
    for key, value in weighted.items():
        torch.testing.assert_close(together[key], value, rtol=1e-3, atol=1e-4)
    with pytest.raises(DDStudyError, match="needs --sample-weights"):
        train_zoo_model(job, folder, tmp_path / "kde", ZooTrainConfig(epochs=1, debias="kde"))
    assert not (tmp_path / "kde").exists()
