#!/usr/bin/python3
"""PyTorch side of bench/vs-pytorch.ts: one workload per process, one JSON line on stdout.

Usage: /usr/bin/python3 bench/pytorch_bench.py WORKLOAD BATCH SECONDS
WORKLOAD: kd-mlp (Hinton KD step: teacher 784-1200-1200-10 forward, student 784-800-800-10 train), cnn (CE
training of conv5x5x32-pool-conv5x5x64-pool-dense128-10), infer (student forward; batch 1 reports p50 latency),
sgemm (1024^3 matmul GFLOPS, to show which BLAS runs); lm-train, lm-kd, lm-gen, lm-fwd: the transformer workloads
of bench/pytorch_transformer.py. Same synthetic data scheme as the TypeScript side.
"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# TSDISTILL_BENCH_TORCH="tuned": the best PyTorch settings found on the 2-core machine (see docs/PERFORMANCE.md):
# ATen's own threads off for the MLP (its OpenMP threads and OpenBLAS's 2 threads otherwise fight over 2 cores),
# Adam's multi-tensor (foreach) update. The allocator settings come from the environment (GLIBC_TUNABLES).
TUNED = os.environ.get("TSDISTILL_BENCH_TORCH") == "tuned"
torch.set_num_threads(2)
torch.manual_seed(0)


def mlp(hidden):
    layers, width = [nn.Flatten()], 784
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def batches(batch, count=8):
    return [(torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))) for _ in range(count)]


FAULTS = {"per_step": None}


def timed(step, seconds, warmup=3, min_steps=3):
    """Warm-up steps, then steps until `seconds` have passed (at least min_steps); notes minor page faults per timed step."""
    for i in range(warmup):
        step(i)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    n, start = 0, time.perf_counter()
    while n < min_steps or time.perf_counter() - start < seconds:
        step(n)
        n += 1
    FAULTS["per_step"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / n
    return n, time.perf_counter() - start


def kd_mlp(batch, seconds, T=4.0, alpha=0.1):
    if TUNED:
        torch.set_num_threads(1)
    teacher, student = mlp([1200, 1200]).eval(), mlp([800, 800])
    opt = torch.optim.Adam(student.parameters(), lr=1e-3, eps=1e-7, foreach=TUNED or None)
    data = batches(batch)
    losses = []

    def step(i):
        x, y = data[i % len(data)]
        with torch.no_grad():
            t = teacher(x)
        s = student(x)
        soft = F.kl_div(F.log_softmax(s / T, 1), F.log_softmax(t / T, 1), reduction="batchmean", log_target=True)
        loss = alpha * F.cross_entropy(s, y) + (1 - alpha) * T * T * soft
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    n, dt = timed(step, seconds)
    return {"samples_per_s": n * batch / dt, "steps": n, "final_loss": losses[-1]}


def train_cnn(batch, seconds):
    model = cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    data = batches(batch)
    losses = []

    def step(i):
        x, y = data[i % len(data)]
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    n, dt = timed(step, seconds, warmup=1)
    return {"samples_per_s": n * batch / dt, "steps": n, "final_loss": losses[-1]}


def infer(batch, seconds):
    model = mlp([800, 800]).eval()
    data = batches(batch)
    times = []

    def step(i):
        x = data[i % len(data)][0]
        t0 = time.perf_counter()
        with torch.inference_mode():
            model(x)
        times.append(time.perf_counter() - t0)

    n, dt = timed(step, seconds, warmup=20)
    times = sorted(times[20:])
    return {"samples_per_s": n * batch / dt, "p50_ms": times[len(times) // 2] * 1000, "steps": n}


def sgemm(_batch, seconds):
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    n, dt = timed(lambda i: a @ b, seconds)
    return {"gflops": 2 * 1024 ** 3 * n / dt / 1e9, "steps": n}


def main():
    workload, batch, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if workload.startswith("lm-"):
        from pytorch_transformer import WORKLOADS
        result = WORKLOADS[workload](batch, seconds, timed, TUNED)
    else:
        run = {"kd-mlp": kd_mlp, "cnn": train_cnn, "infer": infer, "sgemm": sgemm}[workload]
        result = run(batch, seconds)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["faults_per_step"] = FAULTS["per_step"]
    result["blas"] = next((part.strip() for part in torch.__config__.show().replace("\n", ",").split(",") if "BLAS_INFO" in part), "?")
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
