#!/usr/bin/env python3
"""PyTorch's side of the one-epoch training benchmark (bench/train_epoch.sh): the tutorial's
MLP, SGD(lr 0.01, momentum 0.9), batch 64, one epoch over an MNIST-format directory.

    python3 bench/train_epoch.py dataloader DIR   # the tutorial's pipeline: torchvision dataset + DataLoader
    python3 bench/train_epoch.py preloaded DIR    # the data as one normalised tensor, batches by index

Prints {"mode", "loop_seconds", "test_accuracy"}; the whole-process time is measured outside.
"""
import gzip
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 500)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x.view(-1, 28 * 28))))


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def find(directory, name):
    for candidate in (name, name + ".gz"):
        if os.path.exists(os.path.join(directory, candidate)):
            return os.path.join(directory, candidate)
    raise SystemExit(f"{directory} has no {name}")


def train(model, batches):
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    for images, labels in batches:
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def main(mode, directory):
    test_x = torch.from_numpy(read_idx(find(directory, "t10k-images-idx3-ubyte")).copy()).float().div(255).sub(0.5).div(0.5)
    test_y = torch.from_numpy(read_idx(find(directory, "t10k-labels-idx1-ubyte")).astype(np.int64))
    model = Net()
    if mode == "dataloader":
        from torchvision import datasets, transforms
        from torch.utils.data import DataLoader
        root = tempfile.mkdtemp()
        raw = os.path.join(root, "FashionMNIST", "raw")
        os.makedirs(raw)
        # torchvision looks for the decompressed files under <root>/FashionMNIST/raw.
        for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]:
            src = find(directory, name)
            opener = gzip.open if src.endswith(".gz") else open
            with opener(src, "rb") as f_in, open(os.path.join(raw, name), "wb") as f_out:
                shutil.copyfileobj(f_in, f_out)
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
        dataset = datasets.FashionMNIST(root=root, train=True, transform=transform, download=False)
        seconds = train(model, DataLoader(dataset=dataset, batch_size=64, shuffle=True))
        shutil.rmtree(root)
    else:
        x = torch.from_numpy(read_idx(find(directory, "train-images-idx3-ubyte")).copy()).float().div(255).sub(0.5).div(0.5)
        y = torch.from_numpy(read_idx(find(directory, "train-labels-idx1-ubyte")).astype(np.int64))
        order = torch.randperm(len(y))
        seconds = train(model, ((x[idx], y[idx]) for idx in order.split(64)))
    print(json.dumps({"mode": mode, "loop_seconds": seconds, "test_accuracy": accuracy(model, test_x, test_y)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
