"""An encoder-decoder ``nn.Transformer`` trained as in PyTorch's "Language Translation with
nn.Transformer and torchtext" tutorial, on a toy task (copy a sequence of digits).

Idioms: ``nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
dim_feedforward, dropout)`` (sequence-first), ``PositionalEncoding`` with a ``pos_embedding``
buffer and dropout, ``TokenEmbedding`` scaled by ``math.sqrt(emb_size)``,
``generate_square_subsequent_mask`` built as ``(torch.triu(torch.ones((sz, sz))) == 1)
.transpose(0, 1)`` then ``.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1,
0.0)``, ``create_mask`` with boolean ``src_mask`` zeros and padding masks
``(src == PAD_IDX).transpose(0, 1)``, ``src_key_padding_mask`` / ``tgt_key_padding_mask`` /
``memory_key_padding_mask``, ``xavier_uniform_`` on every ``p.dim() > 1``,
``CrossEntropyLoss(ignore_index=PAD_IDX)``, ``Adam(betas=(0.9, 0.98), eps=1e-9)``, greedy decoding
through ``transformer.encoder`` / ``transformer.decoder`` with
``torch.ones(1, 1).fill_(BOS_IDX).type(torch.long)`` and ``torch.max(prob, dim=1)``.
"""

import math

import torch
import torch.nn as nn
from torch import Tensor

torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
PAD_IDX, BOS_IDX, EOS_IDX, N_DIGITS = 0, 1, 2, 6
VOCAB = 3 + N_DIGITS


class PositionalEncoding(nn.Module):
    def __init__(self, emb_size, dropout, maxlen=64):
        super().__init__()
        den = torch.exp(-torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        pos_embedding = pos_embedding.unsqueeze(-2)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pos_embedding", pos_embedding)

    def forward(self, token_embedding: Tensor):
        return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(0), :])


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens: Tensor):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


class Seq2SeqTransformer(nn.Module):
    def __init__(self, emb_size=32, nhead=4, layers=1, ff=64, dropout=0.1):
        super().__init__()
        self.transformer = nn.Transformer(d_model=emb_size, nhead=nhead,
                                          num_encoder_layers=layers, num_decoder_layers=layers,
                                          dim_feedforward=ff, dropout=dropout)
        self.generator = nn.Linear(emb_size, VOCAB)
        self.src_tok_emb = TokenEmbedding(VOCAB, emb_size)
        self.tgt_tok_emb = TokenEmbedding(VOCAB, emb_size)
        self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout)

    def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
                memory_key_padding_mask):
        src_emb = self.positional_encoding(self.src_tok_emb(src))
        tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
        outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None, src_padding_mask,
                                tgt_padding_mask, memory_key_padding_mask)
        return self.generator(outs)

    def encode(self, src, src_mask):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)),
                                        src_mask)

    def decode(self, tgt, memory, tgt_mask):
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory,
                                        tgt_mask)


def generate_square_subsequent_mask(sz):
    mask = (torch.triu(torch.ones((sz, sz))) == 1).transpose(0, 1)
    return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, 0.0)


def create_mask(src, tgt):
    src_seq_len, tgt_seq_len = src.shape[0], tgt.shape[0]
    tgt_mask = generate_square_subsequent_mask(tgt_seq_len)
    src_mask = torch.zeros((src_seq_len, src_seq_len)).type(torch.bool)
    src_padding_mask = (src == PAD_IDX).transpose(0, 1)
    tgt_padding_mask = (tgt == PAD_IDX).transpose(0, 1)
    return src_mask, tgt_mask, src_padding_mask, tgt_padding_mask


def make_batch(n, max_len=4):
    """Sequence-first (S, N) tensors: source digits, target = the same digits, padded."""
    srcs, tgts = [], []
    for _ in range(n):
        length = int(torch.randint(2, max_len + 1, (1,), generator=g))
        digits = torch.randint(3, VOCAB, (length,), generator=g)
        srcs.append(torch.cat([digits, torch.tensor([EOS_IDX])]))
        tgts.append(torch.cat([torch.tensor([BOS_IDX]), digits, torch.tensor([EOS_IDX])]))
    pad = nn.utils.rnn.pad_sequence
    return pad(srcs, padding_value=PAD_IDX), pad(tgts, padding_value=PAD_IDX)


model = Seq2SeqTransformer()
for p in model.parameters():
    if p.dim() > 1:
        nn.init.xavier_uniform_(p)
loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD_IDX)
optimizer = torch.optim.Adam(model.parameters(), lr=4e-3, betas=(0.9, 0.98), eps=1e-9)
model.train()
for step in range(100):
    src, tgt = make_batch(24)
    tgt_input = tgt[:-1, :]
    src_mask, tgt_mask, src_pad, tgt_pad = create_mask(src, tgt_input)
    logits = model(src, tgt_input, src_mask, tgt_mask, src_pad, tgt_pad, src_pad)
    optimizer.zero_grad()
    tgt_out = tgt[1:, :]
    loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
    loss.backward()
    optimizer.step()


def greedy_decode(model, src, src_mask, max_len):
    memory = model.encode(src, src_mask)
    ys = torch.ones(1, 1).fill_(BOS_IDX).type(torch.long)
    for i in range(max_len - 1):
        tgt_mask = generate_square_subsequent_mask(ys.size(0)).type(torch.bool)
        out = model.decode(ys, memory, tgt_mask).transpose(0, 1)
        prob = model.generator(out[:, -1])
        _, next_word = torch.max(prob, dim=1)
        ys = torch.cat([ys, torch.ones(1, 1).type_as(src.data).fill_(next_word.item())], dim=0)
        if next_word.item() == EOS_IDX:
            break
    return ys


model.eval()
correct = total = 0
with torch.no_grad():
    for _ in range(60):
        src, tgt = make_batch(1)
        out = greedy_decode(model, src, torch.zeros(src.size(0), src.size(0)).type(torch.bool),
                            src.size(0) + 3).flatten()
        want = tgt.flatten()
        n = min(len(out), len(want))
        correct += (out[:n] == want[:n]).sum().item() - 1     # BOS is given
        total += len(want) - 1
print(f"METRIC token_acc {correct / total:.4f}")
