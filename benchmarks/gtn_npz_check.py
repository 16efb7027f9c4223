"""Train the GTN paper's MNIST learner on an exported teacher (.npz) with nothing but torch and numpy.

An independent reader of `gtn-nas export` files: it imports nothing from gtn_nas. The learner is
`base_fc` as Such et al.'s code defines it (uber-research/GTN, models.py `Classifier` with
use_global_pooling=False): 3x3 convolutions (no bias) of C1 and C2 channels, each followed by
max-pool 3/2 (padding 1), mean-only batch norm and LeakyReLU(0.1); a linear layer of F units,
mean-only batch norm, LeakyReLU(0.1); the 10-way linear output. Every convolution and linear layer
is weight-normalised (here by torch's own `parametrizations.weight_norm`, not gtn-nas's layer),
with Kaiming-normal directions. Mean-only batch norm normalises with the statistics of the batch
it is given, in training and at test time (test images in batches of 1,000), as gtn-nas students
do. Step t trains on rows [t*B, (t+1)*B) with SGD(lr[t], momentum[t]) after clipping the gradient
to max_grad_norm, when the file has one.

    python benchmarks/gtn_npz_check.py teacher.npz --mnist /path/to/mnist --widths 64,128,256 --seeds 4
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class MeanOnlyBN(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n))

    def forward(self, x):
        mean = x.mean(dim=0) if x.dim() == 2 else x.mean(dim=(0, 2, 3))
        shape = (1, -1) if x.dim() == 2 else (1, -1, 1, 1)
        return x - mean.view(shape) + self.bias.view(shape)


def wn(layer):
    nn.init.kaiming_normal_(layer.weight)
    return weight_norm(layer)  # g initialised to ‖v‖: the layer starts as its plain self


def block(cin, cout):
    conv = wn(nn.Conv2d(cin, cout, 3, padding=1, bias=False))
    return [conv, nn.MaxPool2d(3, 2, padding=1), MeanOnlyBN(cout), nn.LeakyReLU(0.1)]


def base_fc(c1=64, c2=128, f=256):
    head = [nn.Flatten(), wn(nn.Linear(c2 * 7 * 7, f)), MeanOnlyBN(f), nn.LeakyReLU(0.1), wn(nn.Linear(f, 10))]
    return nn.Sequential(*block(1, c1), *block(c1, c2), *head)


def mnist_test(folder: Path, mean: float, std: float):
    def read(name):
        path = next(p for p in (folder / name, folder / f"{name}.gz") if p.exists())
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            data = fh.read()
        dims = data[3]
        shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)

    x = torch.from_numpy(read("t10k-images-idx3-ubyte").astype(np.float32) / 255.0)
    return ((x - mean) / std).unsqueeze(1), torch.from_numpy(read("t10k-labels-idx1-ubyte").astype(np.int64))


def train_and_test(npz, widths, seed, x_test, y_test, budgets=(4, 8, 16, 32)):
    torch.manual_seed(seed)
    net = base_fc(*widths)
    B = int(npz["batch_size"])
    images, labels = torch.from_numpy(npz["images"]), torch.from_numpy(npz["labels"])
    clip = float(npz["max_grad_norm"]) if "max_grad_norm" in npz else None
    opt = torch.optim.SGD(net.parameters(), lr=0.0, momentum=0.0)
    scores = {}
    for t in range(len(npz["lr"])):
        for g in opt.param_groups:
            g["lr"], g["momentum"] = float(npz["lr"][t]), float(npz["momentum"][t])
        net.train()
        opt.zero_grad()
        F.cross_entropy(net(images[t * B : (t + 1) * B]), labels[t * B : (t + 1) * B]).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        if t + 1 in budgets:
            net.eval()
            with torch.no_grad():
                hits = sum(
                    (net(x_test[i : i + 1000]).argmax(1) == y_test[i : i + 1000]).sum().item()
                    for i in range(0, 10000, 1000)
                )
            scores[t + 1] = hits / len(y_test)
    return scores


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("npz", type=Path)
    ap.add_argument("--mnist", type=Path, required=True, help="folder with the MNIST IDX files (.gz or not)")
    ap.add_argument("--widths", default="64,128,256")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--out", type=Path, help="also write the result (and this command) as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    npz = dict(np.load(args.npz))
    x, y = mnist_test(args.mnist, float(npz["mean"]), float(npz["std"]))
    widths = tuple(int(w) for w in args.widths.split(","))
    runs = [train_and_test(npz, widths, s, x, y) for s in range(args.seeds)]
    out = {t: float(np.mean([r[t] for r in runs])) for t in runs[0]}
    spread = {t: float(np.std([r[t] for r in runs], ddof=1)) if len(runs) > 1 else 0.0 for t in runs[0]}
    result = {"npz": str(args.npz), "widths": widths, "seeds": args.seeds, "test_acc": out, "sd": spread}
    print(json.dumps(result))
    if args.out:
        command = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
        args.out.write_text(json.dumps({**result, "command": command, "threads": 1}, indent=1) + "\n")


if __name__ == "__main__":
    main()
