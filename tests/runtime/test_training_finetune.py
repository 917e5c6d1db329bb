"""Fine-tuning and cancellation in the trainers (evaluation/TRAINING.md): a parent's weights are
copied where they fit, a head of another size starts fresh, and ``should_stop`` ends training
before anything is written."""
from __future__ import annotations

import pytest
import torch

from models_runtime.checkpoints import load_checkpoint, save_checkpoint
from models_runtime.embedder import Embedder
from models_runtime.training.common import TrainingCancelled, init_weights_load
from models_runtime.training.embedder import train_embedder
from models_runtime.world.exports import export_matching_manifest
from models_runtime.world.world import build_world

CONFIG = {"embedding_dim": 32, "small_widths": [8, 16, 32, 32], "input_size": 32}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    world = build_world(seed=0, n_products=10, n_scenes=3)
    return export_matching_manifest(world, folder, split=None, product_size=48), folder


def test_init_weights_load_copies_what_fits_and_reports_the_rest():
    source = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 5))
    target = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 7))
    report = init_weights_load(target, source.state_dict())
    assert torch.equal(target[0].weight, source[0].weight)
    assert report["loaded"] == ["0.bias", "0.weight"]
    assert report["reinitialised"] == ["1.bias", "1.weight"] and report["unused"] == ["1.bias", "1.weight"]


def test_an_embedder_fine_tuned_from_a_parent_starts_from_its_backbone(manifest, tmp_path):
    path, images = manifest
    torch.manual_seed(3)
    parent = Embedder.from_config(CONFIG, device="cpu")
    parent_path = save_checkpoint(tmp_path / "parent.pt", kind="embedder", config=parent.config,
                                  state_dict=parent.model.state_dict())
    _, parent_state, _ = load_checkpoint(parent_path, kind="embedder")
    result = train_embedder(manifest=path, images_dir=images, out=tmp_path / "child.pt", progress=None,
                            init_checkpoint=parent_path, steps=1, batch_size=4, lr=0.0, warmup_steps=1,
                            instances_per_step=8)
    record = result.record
    assert record["init"]["loaded"] > 0 and record["config"]["embedding_dim"] == 32
    # lr 0: every weight is the parent's (batch-norm statistics, buffers, move with the batch).
    child = dict(result.model.named_parameters())
    shared = [name for name in parent_state if name in child and child[name].shape == parent_state[name].shape]
    assert len(shared) > 10
    assert all(torch.allclose(child[name].detach(), parent_state[name], atol=1e-6) for name in shared)


def test_should_stop_ends_training_before_anything_is_written(manifest, tmp_path):
    path, images = manifest
    asked = []

    def stop_on_third_step():
        asked.append(1)
        return len(asked) >= 3

    with pytest.raises(TrainingCancelled, match="step 2"):
        train_embedder(manifest=path, images_dir=images, out=tmp_path / "never.pt", config=CONFIG, progress=None,
                       should_stop=stop_on_third_step, steps=50, batch_size=4, instances_per_step=8)
    assert not (tmp_path / "never.pt").exists()
