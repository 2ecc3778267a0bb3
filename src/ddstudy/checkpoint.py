"""Resume state of a long job (zoo training, distillation): tensors + JSON, valid only for the same fingerprint.

The fingerprint holds everything that determines the result (job, recipe, dataset hashes); a state written for
another fingerprint is discarded with its folder, so a changed setting never resumes from stale work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ddstudy.io import load_tensors, read_json, save_tensors, write_json


class ResumeState:
    def __init__(self, folder: str | Path, stem: str, fingerprint: dict):
        self.folder = Path(folder)
        self.json = self.folder / f"{stem}.json"
        self.tensors = self.folder / f"{stem}.safetensors"
        self.fingerprint = json.loads(json.dumps(fingerprint))  # tuples → lists, as it comes back from the JSON

    def load(self) -> tuple[dict, dict[str, torch.Tensor]] | None:
        """(fields, tensors) of a matching state; otherwise clear the folder and return None."""
        if self.json.is_file():
            state = read_json(self.json)
            if state.get("fingerprint") == self.fingerprint:
                return state, load_tensors(self.tensors, state["sha256"])
        if self.folder.exists():
            shutil.rmtree(self.folder)
        return None

    def save(self, tensors: dict[str, torch.Tensor], **fields) -> None:
        digest = save_tensors(self.tensors, tensors)
        write_json(self.json, {"fingerprint": self.fingerprint, **fields, "sha256": digest})

    def remove(self) -> None:
        self.json.unlink(missing_ok=True)
        self.tensors.unlink(missing_ok=True)
