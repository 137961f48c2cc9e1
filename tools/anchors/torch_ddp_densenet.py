"""PyTorch DistributedDataParallel on the CPU: the anchor for `npm run bench:scaling`.

The seed's DenseNet (../shared/anchors/torch_densenet.py, imported from there) trained by W processes,
one thread each, gloo all-reduce, channels_last, SGD lr 0.1, a per-process batch of B at S x S:
the global samples/s over the timed steps, as bench:scaling measures tfjs-ddp. Run with 1 and then
2 processes, back to back with bench:scaling, and compare the speed-ups (a machine whose cores slow
each other down gives both engines less than 2x).

Usage: /usr/bin/python3 tools/anchors/torch_ddp_densenet.py WORKERS [B=64] [STEPS=8] [S=96]
(Debian's python3-torch; run from the repository root, ../shared/anchors next to it).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "anchors"))
import torch_densenet  # noqa: E402  (re-executes this script with its tuned malloc, as the anchor does)
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402


def rank_main(rank, world, bs, steps, size, out):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    fmt = torch.channels_last
    net = nn.parallel.DistributedDataParallel(torch_densenet.densenet().to(memory_format=fmt))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    lf = nn.CrossEntropyLoss()
    torch.manual_seed(rank + 1)
    X = torch.randn(bs, 1, size, size).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (bs,))

    def step():
        opt.zero_grad()
        lf(net(X), y).backward()
        opt.step()

    step(); step()  # warm-up
    dist.barrier()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    dist.barrier()
    dt = time.perf_counter() - t
    if rank == 0:
        out.put({"engine": "pytorch-ddp-cpu", "torch": torch.__version__, "workers": world, "threads_per_worker": 1,
                 "layout": "nhwc", "per_worker_batch": bs, "size": size, "steps": steps,
                 "samples_per_s": round(world * bs * steps / dt, 1)})
    dist.destroy_process_group()


if __name__ == "__main__":
    world = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    bs = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 96
    ctx = mp.get_context("spawn")
    q = ctx.SimpleQueue()
    mp.spawn(rank_main, args=(world, bs, steps, size, q), nprocs=world, join=True)
    print(json.dumps(q.get()))
