"""A GRU encoder-decoder with additive (Bahdanau) attention learns to reverse digit strings,
trained with teacher forcing and decoded greedily.

Idioms: ``nn.Embedding`` + ``nn.GRU(batch_first=True)``, attention
``self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))`` then ``scores.squeeze(2).unsqueeze(1)``,
``F.softmax(scores, dim=-1)``, ``torch.bmm(weights, keys)``, ``torch.cat((embedded, context),
dim=2)``, a decoder loop starting from ``torch.empty(B, 1, dtype=torch.long).fill_(SOS)``,
teacher forcing ``target[:, i].unsqueeze(1)``, greedy ``_, topi = out.topk(1)`` and
``topi.squeeze(-1).detach()``, ``torch.cat(decoder_outputs, dim=1)``,
``F.log_softmax(..., dim=-1)`` with ``nn.NLLLoss()`` on ``.view(-1, size)``, two optimizers.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

torch.manual_seed(0)
SOS, VOCAB, LEN, HID = 0, 7, 5, 32      # tokens 1..6 are digits


def make(n):
    src = torch.randint(1, VOCAB, (n, LEN))
    return src, src.flip(1)


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)

    def forward(self, input):
        output, hidden = self.gru(self.embedding(input))
        return output, hidden


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
        scores = scores.squeeze(2).unsqueeze(1)
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights, keys)
        return context, weights


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size):
        super().__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long).fill_(SOS)
        decoder_hidden = encoder_hidden
        decoder_outputs, attentions = [], []
        for i in range(LEN):
            decoder_output, decoder_hidden, attn_weights = self.forward_step(
                decoder_input, decoder_hidden, encoder_outputs)
            decoder_outputs.append(decoder_output)
            attentions.append(attn_weights)
            if target_tensor is not None:
                decoder_input = target_tensor[:, i].unsqueeze(1)      # teacher forcing
            else:
                _, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()
        decoder_outputs = torch.cat(decoder_outputs, dim=1)
        return F.log_softmax(decoder_outputs, dim=-1), decoder_hidden, torch.cat(attentions, 1)

    def forward_step(self, input, hidden, encoder_outputs):
        embedded = self.embedding(input)
        query = hidden.permute(1, 0, 2)
        context, attn_weights = self.attention(query, encoder_outputs)
        output, hidden = self.gru(torch.cat((embedded, context), dim=2), hidden)
        return self.out(output), hidden, attn_weights


src, tgt = make(600)
src_te, tgt_te = make(200)
encoder, decoder = EncoderRNN(VOCAB, HID), AttnDecoderRNN(HID, VOCAB)
encoder_optimizer = optim.Adam(encoder.parameters(), lr=0.01)
decoder_optimizer = optim.Adam(decoder.parameters(), lr=0.01)
criterion = nn.NLLLoss()
for epoch in range(12):
    for i in range(0, len(src), 50):
        input_tensor, target_tensor = src[i:i + 50], tgt[i:i + 50]
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, _, _ = decoder(encoder_outputs, encoder_hidden, target_tensor)
        loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)),
                         target_tensor.view(-1))
        loss.backward()
        encoder_optimizer.step()
        decoder_optimizer.step()
with torch.no_grad():
    encoder_outputs, encoder_hidden = encoder(src_te)
    decoder_outputs, _, attn = decoder(encoder_outputs, encoder_hidden)
    _, decoded_ids = decoder_outputs.topk(1)
acc = (decoded_ids.squeeze(-1) == tgt_te).float().mean().item()
print("last loss:", loss.item(), "attention shape:", tuple(attn.shape))
print(f"METRIC token_accuracy {acc:.3f}")
