"""Under ``torchrun`` each rank reads its own shard, from the launcher's environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = '''
import json, os, sys
from dali_mixup import DALILoader, MixConfig
from pipelines import train_pipeline, val_pipeline

data, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = train_pipeline(data, batch_size=3, image_size=8, seed=4)
train, val = DALILoader(spec), DALILoader(val_pipeline(data, batch_size=3, image_size=8))
mix = MixConfig(mixup_alpha=1.0, cutmix_alpha=0.0, label_smoothing=0.0, num_classes=n)
_, targets = next(iter(DALILoader(train_pipeline(data, batch_size=4, image_size=8, mix=mix, seed=4))))
record = {
    "shard": [spec.runtime.shard_id, spec.runtime.num_shards],
    "len": len(train),
    "train": [[y for _, labels in train for y in labels.tolist()] for _ in range(2)],
    "val": [y for _, labels in val for y in labels.tolist()],
    "lam": targets.max(dim=1).values.tolist(),
}
with open(os.path.join(out, "rank%s.json" % os.environ["RANK"]), "w") as f:
    json.dump(record, f)
'''


def test_torchrun_ranks_read_disjoint_shards_that_cover_the_data(make_file_list, tmp_path: Path) -> None:
    n = 11
    data = make_file_list(n)
    (tmp_path / "worker.py").write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(tmp_path / "worker.py"), str(data), str(tmp_path), str(n)],
        env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["shard"] for r in ranks] == [[0, 2], [1, 2]]
    assert ranks[0]["len"] == ranks[1]["len"] == 2  # equal batch counts keep DDP in step
    for epoch in range(2):
        first, second = (set(r["train"][epoch]) for r in ranks)
        assert not first & second and first | second == set(range(n))
        assert sum(len(r["train"][epoch]) for r in ranks) == n
    assert not set(ranks[0]["val"]) & set(ranks[1]["val"])
    assert sorted(ranks[0]["val"] + ranks[1]["val"]) == list(range(n))
    assert ranks[0]["lam"] != ranks[1]["lam"]  # each rank draws its own mixing
