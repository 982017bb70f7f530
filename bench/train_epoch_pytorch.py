"""The same LeNet-5 training loop as bench_train_epoch, in PyTorch-Python: whole MNIST in memory as
tensors, shuffled index batches of 128, Adam lr 1e-3, cross-entropy. Prints one JSON line."""
import argparse, json, os, struct, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with open(path, "rb") as f:
        magic, = struct.unpack(">i", f.read(4))
        dims = struct.unpack(">" + "i" * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).reshape(dims)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = x.permute(0, 2, 3, 1).reshape(x.size(0), -1)  # Keras' channels_last flatten, as snare's lenet5
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--data", default="data/mnist")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = (read_idx(f"{a.data}/train-images-idx3-ubyte").float() / 255).unsqueeze(1).to(a.device)
    y = read_idx(f"{a.data}/train-labels-idx1-ubyte").long().to(a.device)
    xt = (read_idx(f"{a.data}/t10k-images-idx3-ubyte").float() / 255).unsqueeze(1).to(a.device)
    yt = read_idx(f"{a.data}/t10k-labels-idx1-ubyte").long().to(a.device)
    model = LeNet5().to(a.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(x.size(0)).to(a.device)
        for i in range(0, x.size(0), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = sum((model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum().item() for i in range(0, 10000, 1000)) / 1e4
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "device": a.device, "threads": torch.get_num_threads(),
                      "epochs": a.epochs, "seconds_per_epoch": round(sum(times) / len(times), 3),
                      "best_epoch_seconds": round(min(times), 3), "test_accuracy": round(acc, 4)}))


if __name__ == "__main__":
    main()
