"""The same seed gives bit-identical batches in separate processes, and a loader resumed in a
new process from a saved state continues bit-identically. (Resuming within one process:
tests/test_loader.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WORKER = '''
import hashlib, sys, torch
from dali_mixup import DALILoader, MixConfig
from pipelines import train_pipeline

data, mode, count, state = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
mix = MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, mode="elem", num_classes=11)
loader = DALILoader(train_pipeline(data, batch_size=4, image_size=16, mix=mix, seed=3), mixup_off_epoch=2)
if mode == "resume":
    loader.load_state_dict(torch.load(state))

def batches():
    while True:
        yield from loader

for number, (images, targets) in zip(range(count), batches()):
    print(hashlib.sha256(images.numpy().tobytes() + targets.numpy().tobytes()).hexdigest())
    if mode == "save" and number == 4:  # 5 batches read: mid-way through the second epoch
        torch.save(loader.state_dict(), state)
'''


def run_worker(tmp_path: Path, data: Path, *args: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, str(tmp_path / "worker.py"), str(data), *args],
                         env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.split()


def test_same_seed_same_batches_across_processes_and_after_resuming(make_file_list, tmp_path: Path) -> None:
    # 11 samples in batches of 4: 3 per epoch, the last one partial; mixing off from epoch 2.
    data = make_file_list(11)
    (tmp_path / "worker.py").write_text(WORKER)
    state = str(tmp_path / "state.pt")

    first = run_worker(tmp_path, data, "save", "9", state)  # saves its state after 5 batches
    second = run_worker(tmp_path, data, "run", "9", state)
    resumed = run_worker(tmp_path, data, "resume", "4", state)

    assert len(set(first)) == 9  # every batch differs: the hashes see the data
    assert second == first
    assert resumed == first[5:]
