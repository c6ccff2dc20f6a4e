"""PyTorch side of the transformer rows of bench/vs-pytorch.ts (imported by bench/pytorch_bench.py).

The model is src/students/transformer.ts's layout, layer for layer: token embedding + learned positions, pre-LN
blocks (LayerNorm, fused q/k/v Linear, causal softmax(q·kᵀ/√hs)·v, output Linear, residual; LayerNorm,
Linear → GELU (tanh form) → Linear, residual), final LayerNorm, LM head Linear without bias (not tied), dropout 0.
Workloads (byte-level vocabulary 260, context 128):
  lm-train   next-token cross-entropy + Adam step of the 4-layer, dim 256, 4-head, ff 1024 student, batch 16
  lm-kd      the same step with a 2x-wide teacher's forward (dim 512, 8 heads, ff 2048) and loss
             0.5 CE + 0.5 token-level forward KL (T = 1)
  lm-gen     batch-1 greedy generation with a KV cache: prompt of 64 tokens, ms per generated token (64 tokens)
  lm-fwd     batch-32 forward over 128 tokens (inference mode), tokens/s and p50 ms
"""
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, CTX = 260, 128
STUDENT = dict(layers=4, dim=256, heads=4, ff=1024)
TEACHER = dict(layers=4, dim=512, heads=8, ff=2048)


class Block(nn.Module):
    def __init__(self, dim, heads, ff):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc, self.out = nn.Linear(dim, ff), nn.Linear(ff, dim)

    def attention(self, x, cache=None):
        B, T, C = x.shape
        H, hs = self.heads, C // self.heads
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, H, hs).transpose(1, 2) for t in (q, k, v))  # [B, H, T, hs]
        if cache is not None:
            if cache.get("k") is not None:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        L = k.shape[2]
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # [B, H, T, L]
        if T > 1:  # query i (position L − T + i) sees keys j ≤ L − T + i
            future = torch.ones(T, L, dtype=torch.bool).triu(L - T + 1)
            scores = scores.masked_fill(future, -1e9)
        y = F.softmax(scores, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(B, T, C))

    def forward(self, x, cache=None):
        x = x + self.attention(self.ln1(x), cache)
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Transformer(nn.Module):
    def __init__(self, layers, dim, heads, ff):
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, dim), nn.Embedding(CTX, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, ff) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, VOCAB, bias=False)
        for p in self.parameters():  # GPT-2's N(0, 0.02) scale; speed does not depend on it
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, caches=None, start=0):
        T = ids.shape[1]
        h = self.tok(ids) + self.pos(torch.arange(start, start + T))
        for i, block in enumerate(self.blocks):
            h = block(h, None if caches is None else caches[i])
        return self.head(self.ln(h))  # [B, T, V]


def tokens(batch, length, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, length + 1), generator=g)


def lm_step(batch, seconds, timed, tuned, kd):
    student = Transformer(**STUDENT)
    teacher = Transformer(**TEACHER).eval() if kd else None
    opt = torch.optim.Adam(student.parameters(), lr=1e-3, eps=1e-7, foreach=tuned or None)
    data = [tokens(batch, CTX, i) for i in range(4)]
    losses = []

    def step(i):
        ids = data[i % len(data)]
        x, y = ids[:, :-1], ids[:, 1:].reshape(-1)
        s = student(x).reshape(-1, VOCAB)
        loss = F.cross_entropy(s, y)
        if kd:
            with torch.no_grad():
                t = teacher(x).reshape(-1, VOCAB)
            kl = F.kl_div(F.log_softmax(s, 1), F.log_softmax(t, 1), reduction="batchmean", log_target=True)
            loss = 0.5 * loss + 0.5 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    n, dt = timed(step, seconds, 1, 2)
    return {"samples_per_s": n * batch * CTX / dt, "steps": n, "final_loss": losses[-1]}


PROMPT, NEW = 64, 64


def lm_gen(_batch, seconds, timed, tuned, kd):
    if tuned:  # batch-1 decoding: one ATen thread (two measured slower per token here, as for ONNX Runtime)
        torch.set_num_threads(1)
    model = Transformer(**STUDENT).eval()
    prompt = tokens(1, PROMPT - 1, 7)
    per_token = []

    def run(_i):
        with torch.inference_mode():
            caches = [{} for _ in model.blocks]
            logits = model(prompt, caches)
            ids = prompt
            t0 = time.perf_counter()
            for _ in range(NEW):
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                logits = model(nxt, caches, start=ids.shape[1])
                ids = torch.cat([ids, nxt], 1)
            per_token.append((time.perf_counter() - t0) / NEW)

    n, dt = timed(run, seconds, 1)
    times = sorted(per_token[1:])
    return {"samples_per_s": 1 / times[len(times) // 2], "p50_ms": times[len(times) // 2] * 1000, "steps": n}


def lm_fwd(batch, seconds, timed, tuned, kd):
    model = Transformer(**STUDENT).eval()
    data = [tokens(batch, CTX - 1, i) for i in range(4)]
    times = []

    def step(i):
        t0 = time.perf_counter()
        with torch.inference_mode():
            model(data[i % len(data)])
        times.append(time.perf_counter() - t0)

    n, dt = timed(step, seconds, 1)
    times = sorted(times[1:])
    return {"samples_per_s": n * batch * CTX / dt, "p50_ms": times[len(times) // 2] * 1000, "steps": n}


WORKLOADS = {
    "lm-train": lambda b, s, timed, tuned: lm_step(b, s, timed, tuned, False),
    "lm-kd": lambda b, s, timed, tuned: lm_step(b, s, timed, tuned, True),
    "lm-gen": lambda b, s, timed, tuned: lm_gen(b, s, timed, tuned, False),
    "lm-fwd": lambda b, s, timed, tuned: lm_fwd(b, s, timed, tuned, False),
}
