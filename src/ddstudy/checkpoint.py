"""Resume state of a long job (zoo training, distillation): tensors + JSON, valid only for the same fingerprint.

The fingerprint holds everything that determines the result (job, recipe, dataset hashes); a state written for
another fingerprint is discarded with its folder, so a changed setting never resumes from stale work.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from ddstudy.errors import DDStudyError
from ddstudy.io import load_tensors, read_json, save_tensors, write_json
from ddstudy.lazy import lazy

torch = lazy("torch")

log = logging.getLogger(__name__)


def _differences(old, new, prefix: str = "") -> list[str]:
    """Dotted names of the fingerprint entries that differ (first levels only: enough to say what changed)."""
    if not isinstance(old, dict) or not isinstance(new, dict) or prefix.count(".") >= 2:
        return [prefix.rstrip(".")] if old != new else []
    return [
        name
        for key in sorted(set(old) | set(new), key=str)
        for name in _differences(old.get(key), new.get(key), f"{prefix}{key}.")
    ]


class ResumeState:
    def __init__(self, folder: str | Path, stem: str, fingerprint: dict):
        self.folder = Path(folder)
        self.json = self.folder / f"{stem}.json"
        self.tensors = self.folder / f"{stem}.safetensors"
        self.fingerprint = json.loads(json.dumps(fingerprint))  # tuples → lists, as it comes back from the JSON

    def load(self) -> tuple[dict, dict[str, torch.Tensor]] | None:
        """(fields, tensors) of a matching state; otherwise clear the folder and return None. Whenever work is
        thrown away, one log line says so and why (settings changed: which; state unreadable: what)."""
        if self.json.is_file():
            why = None
            try:
                state = read_json(self.json)
                if not isinstance(state, dict):
                    raise DDStudyError(f"{self.json}: not a resume state")
                if state.get("fingerprint") == self.fingerprint:
                    return state, load_tensors(self.tensors, state.get("sha256"))
                changed = _differences(state.get("fingerprint"), self.fingerprint)
                why = f"settings changed since it was saved ({', '.join(changed) or 'fingerprint'})"
            except DDStudyError as err:
                why = f"its saved state is unreadable ({err})"
            log.warning("%s: starting over, not resuming: %s", self.folder, why)
        elif self.tensors.is_file():
            log.warning("%s: starting over, not resuming: %s is missing", self.folder, self.json.name)
        if self.folder.exists():
            shutil.rmtree(self.folder)
        return None

    def save(self, tensors: dict[str, torch.Tensor], **fields) -> None:
        digest = save_tensors(self.tensors, tensors)
        write_json(self.json, {"fingerprint": self.fingerprint, **fields, "sha256": digest})

    def remove(self) -> None:
        self.json.unlink(missing_ok=True)
        self.tensors.unlink(missing_ok=True)
