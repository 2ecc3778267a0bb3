"""PTM storage: one safetensors file + one JSON per (dataset, arch, init, epoch); loading checks the hash.

Layout: ``<zoo_root>/<dataset>/<arch>/init<i>/epoch<e>.safetensors`` and ``epoch<e>.json``, ``run.json`` per
init (training history), ``<zoo_root>/<dataset>/index.json`` per dataset (every checkpoint with its accuracies).
Networks trained with a bias-mitigating loss weighting (recipe ``debias``, MTT's debiased experts) live beside the
plain ones in ``<arch>/debias-<mode>/init<i>``: same init index, same initial weights and data order.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ddstudy.errors import DDStudyError
from ddstudy.io import load_tensors, read_json, save_tensors, write_json
from ddstudy.lazy import lazy
from ddstudy.models import build_model
from ddstudy.outputs import ArtifactKind, claim_output, json_with_keys
from ddstudy.timing import timing_file

torch = lazy("torch")
nn = lazy("torch.nn")

# A folder is a zoo model ddstudy trained when its run.json names the architecture, the init and the saved epochs.
ZOO_MODEL = ArtifactKind("zoo model", True, json_with_keys("arch", "init", "epochs_saved", inside="run.json"))
ZOO_INDEX = ArtifactKind("zoo index", False, json_with_keys("dataset", "checkpoints"))


def zoo_block(dataset: str, arch: str, debias: str = "none") -> str:
    """The folder of a zoo block under the zoo root: ``<dataset>/<arch>`` (+ ``/debias-<mode>``)."""
    return f"{dataset}/{arch}" + (f"/debias-{debias}" if debias != "none" else "")


def init_dir(zoo_root: str | Path, dataset: str, arch: str, init: int, debias: str = "none") -> Path:
    return Path(zoo_root) / zoo_block(dataset, arch, debias) / zoo_job_name([init])


def zoo_job_name(inits: Iterable[int]) -> str:
    """The name of the zoo job that trains ``inits`` of a block: ``init<i>`` (one init, the name of its folder), or
    ``init<a>+init<b>…`` (inits trained stacked in one job). It names the job's staging folder (``.<name>.partial``),
    its timing record and its Snakemake benchmark; :func:`zoo_job_inits` reads it back."""
    return "+".join(f"init{i}" for i in inits)


def zoo_job_inits(name: str) -> list[int] | None:
    """The inits of a zoo job's name (:func:`zoo_job_name`; any suffix after the first dot is ignored, so a file
    ``init0+init1.timing.json`` answers [0, 1]); None for a name that is not one."""
    parts = name.split(".")[0].split("+")
    if not all(p.startswith("init") and p[4:].isdigit() for p in parts):
        return None
    return [int(p[4:]) for p in parts]


def zoo_timing_file(benchmarks_dir: str | Path, block: str, inits: Iterable[int]) -> Path:
    """The timing record of the zoo job that trains ``inits`` of ``block`` (one init, or a stacked set)."""
    return timing_file(benchmarks_dir, "zoo", f"{block}/{zoo_job_name(inits)}")


def save_checkpoint(directory: Path, epoch: int, model: nn.Module, meta: dict) -> dict:
    """``epoch<e>.safetensors`` + ``epoch<e>.json`` (meta plus the weights' sha256)."""
    digest = save_tensors(directory / f"epoch{epoch}.safetensors", model.state_dict())
    meta = {**meta, "epoch": epoch, "weights_sha256": digest}
    write_json(directory / f"epoch{epoch}.json", meta)
    return meta


def zoo_job_hint(dataset: str, arch: str, init: int) -> str:
    return f"train it with `snakemake zoo/{dataset}/{arch}/init{init}` (rule zoo_model)"


def load_ptm(
    zoo_root: str | Path, dataset: str, arch: str, init: int, epoch: int, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict]:
    """A frozen pre-trained model in eval mode and its JSON; missing or tampered checkpoints are one-line errors."""
    folder = init_dir(zoo_root, dataset, arch, init)
    meta_path = folder / f"epoch{epoch}.json"
    if not meta_path.is_file():
        saved = sorted(int(p.stem[5:]) for p in folder.glob("epoch*.json")) if folder.is_dir() else []
        where = f"saved epochs: {saved}" if saved else zoo_job_hint(dataset, arch, init)
        raise DDStudyError(f"PTM {dataset}/{arch}/init{init} epoch {epoch} not in {zoo_root} ({where})")
    meta = read_json(meta_path)
    tensors = load_tensors(folder / f"epoch{epoch}.safetensors", meta["weights_sha256"])
    channels, size = meta["image_shape"][0], meta["image_shape"][1]
    model = build_model(arch, channels, meta["num_classes"], size, seed=0)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as err:
        raise DDStudyError(f"{meta_path}: weights do not fit {arch} ({str(err).splitlines()[0]})") from None
    model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, meta


def recipe_text(config: dict) -> str:
    """A training recipe in a few words, to tell apart zoo blocks of one architecture (PTMs vs MTT's experts):
    ``SGD 0.01, momentum 0.9, wd 0.005, 150 epochs`` (+ ``, DSA aug.``)."""
    text = (
        f"SGD {config['lr']:g}, momentum {config['momentum']:g}, wd {config['weight_decay']:g}, "
        f"{config['epochs']} epochs"
    )
    text += ", DSA aug." if config.get("augment", "none") != "none" else ""
    return text + (f", debias {config['debias']}" if config.get("debias", "none") != "none" else "")


def write_zoo_index(zoo_root: str | Path, dataset: str) -> Path:
    """``<zoo_root>/<dataset>/index.json``: every checkpoint of the dataset's zoo with its accuracies."""
    root = Path(zoo_root) / dataset
    entries = []
    for meta_path in sorted([*root.glob("*/init*/epoch*.json"), *root.glob("*/debias-*/init*/epoch*.json")]):
        meta = read_json(meta_path)
        entries.append(
            {
                key: meta.get(key)
                for key in ("dataset", "arch", "init", "epoch", "seed", "train_acc", "train_loss", "weights_sha256")
            }
            | {f"test_{k}": v for k, v in meta["test"].items() if k != "acc_per_class"}
            | {"recipe": recipe_text(meta["config"]), "debias": meta["config"].get("debias", "none")}
            | {"path": str(meta_path.relative_to(root).with_suffix(".safetensors"))}
        )
    if not entries:
        raise DDStudyError(f"{root}: no PTM checkpoints of '{dataset}'; train its zoo first (snakemake zoo)")
    entries.sort(key=lambda e: (e["arch"], e["init"], e["epoch"]))
    with claim_output(root / "index.json", ZOO_INDEX, flag="--zoo-root") as path:
        write_json(path, {"dataset": dataset, "checkpoints": entries})
    return path
