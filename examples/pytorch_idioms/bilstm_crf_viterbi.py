"""A BiLSTM-CRF tagger trained by the CRF negative log-likelihood and decoded by Viterbi.

Idioms (pytorch/tutorials "Advanced: Making Dynamic Decisions and the Bi-LSTM CRF"):
``transitions = nn.Parameter(torch.randn(tagset_size, tagset_size))`` with
``transitions.data[tag_to_ix[START_TAG], :] = -10000``; ``argmax`` returning ``idx.item()``;
``log_sum_exp`` with ``max_score.view(1, -1).expand(1, vec.size()[1])``; the forward algorithm
over ``torch.full((1, tagset_size), -10000.)`` and ``torch.cat(alphas_t).view(1, -1)``;
``torch.cat([torch.tensor([tag_to_ix[START_TAG]], dtype=torch.long), tags])``; ``init_hidden``
with ``torch.randn(2, 1, hidden_dim // 2)``; ``lstm_out.view(len(sentence), hidden_dim)``;
Viterbi backpointers with ``.view(1, -1)`` and ``best_path.reverse()``; ``SGD(lr=0.01,
weight_decay=1e-4)`` and ``model.zero_grad()`` per sentence. Kept small (few sentences, short
tags) because the tutorial's algorithm is written per scalar.
"""
import itertools

import torch
from torch import nn, optim

START_TAG, STOP_TAG = "<START>", "<STOP>"


def argmax(vec):
    _, idx = torch.max(vec, 1)
    return idx.item()


def prepare_sequence(seq, to_ix):
    return torch.tensor([to_ix[w] for w in seq], dtype=torch.long)


def log_sum_exp(vec):
    max_score = vec[0, argmax(vec)]
    max_score_broadcast = max_score.view(1, -1).expand(1, vec.size()[1])
    return max_score + torch.log(torch.sum(torch.exp(vec - max_score_broadcast)))


class BiLSTM_CRF(nn.Module):
    def __init__(self, vocab_size, tag_to_ix, embedding_dim, hidden_dim):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.tag_to_ix = tag_to_ix
        self.tagset_size = len(tag_to_ix)
        self.word_embeds = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim // 2, num_layers=1, bidirectional=True)
        self.hidden2tag = nn.Linear(hidden_dim, self.tagset_size)
        self.transitions = nn.Parameter(torch.randn(self.tagset_size, self.tagset_size))
        self.transitions.data[tag_to_ix[START_TAG], :] = -10000
        self.transitions.data[:, tag_to_ix[STOP_TAG]] = -10000
        self.hidden = self.init_hidden()

    def init_hidden(self):
        return (torch.randn(2, 1, self.hidden_dim // 2), torch.randn(2, 1, self.hidden_dim // 2))

    def _forward_alg(self, feats):
        init_alphas = torch.full((1, self.tagset_size), -10000.0)
        init_alphas[0][self.tag_to_ix[START_TAG]] = 0.0
        forward_var = init_alphas
        for feat in feats:
            alphas_t = []
            for next_tag in range(self.tagset_size):
                emit_score = feat[next_tag].view(1, -1).expand(1, self.tagset_size)
                trans_score = self.transitions[next_tag].view(1, -1)
                next_tag_var = forward_var + trans_score + emit_score
                alphas_t.append(log_sum_exp(next_tag_var).view(1))
            forward_var = torch.cat(alphas_t).view(1, -1)
        terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
        return log_sum_exp(terminal_var)

    def _get_lstm_features(self, sentence):
        self.hidden = self.init_hidden()
        embeds = self.word_embeds(sentence).view(len(sentence), 1, -1)
        lstm_out, self.hidden = self.lstm(embeds, self.hidden)
        lstm_out = lstm_out.view(len(sentence), self.hidden_dim)
        return self.hidden2tag(lstm_out)

    def _score_sentence(self, feats, tags):
        score = torch.zeros(1)
        tags = torch.cat([torch.tensor([self.tag_to_ix[START_TAG]], dtype=torch.long), tags])
        for i, feat in enumerate(feats):
            score = score + self.transitions[tags[i + 1], tags[i]] + feat[tags[i + 1]]
        return score + self.transitions[self.tag_to_ix[STOP_TAG], tags[-1]]

    def _viterbi_decode(self, feats):
        backpointers = []
        init_vvars = torch.full((1, self.tagset_size), -10000.0)
        init_vvars[0][self.tag_to_ix[START_TAG]] = 0
        forward_var = init_vvars
        for feat in feats:
            bptrs_t, viterbivars_t = [], []
            for next_tag in range(self.tagset_size):
                next_tag_var = forward_var + self.transitions[next_tag]
                best_tag_id = argmax(next_tag_var)
                bptrs_t.append(best_tag_id)
                viterbivars_t.append(next_tag_var[0][best_tag_id].view(1))
            forward_var = (torch.cat(viterbivars_t) + feat).view(1, -1)
            backpointers.append(bptrs_t)
        terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
        best_tag_id = argmax(terminal_var)
        path_score = terminal_var[0][best_tag_id]
        best_path = [best_tag_id]
        for bptrs_t in reversed(backpointers):
            best_tag_id = bptrs_t[best_tag_id]
            best_path.append(best_tag_id)
        start = best_path.pop()
        assert start == self.tag_to_ix[START_TAG]
        best_path.reverse()
        return path_score, best_path

    def neg_log_likelihood(self, sentence, tags):
        feats = self._get_lstm_features(sentence)
        return self._forward_alg(feats) - self._score_sentence(feats, tags)

    def forward(self, sentence):
        return self._viterbi_decode(self._get_lstm_features(sentence))


def make_sentences(n, gen):
    # words 0-3 are "names" (tag B then I for the following word), the rest are O
    words = [f"w{i}" for i in range(10)]
    data = []
    for _ in range(n):
        ids = torch.randint(0, 10, (5,), generator=gen).tolist()
        tags, i = [], 0
        while i < len(ids):
            if ids[i] < 4 and i + 1 < len(ids):
                tags += ["B", "I"]
                i += 2
            else:
                tags.append("O")
                i += 1
        data.append(([words[j] for j in ids], tags))
    return data


def brute_force(model, feats):
    """Best path score and log-partition over every tag path (START/STOP excluded)."""
    n = feats.shape[0]
    paths = torch.tensor(list(itertools.product(range(3), repeat=n)))
    trans, start, stop = model.transitions, model.tag_to_ix[START_TAG], model.tag_to_ix[STOP_TAG]
    scores = feats[torch.arange(n), paths].sum(1) + trans[paths[:, 0], start]
    scores = scores + trans[paths[:, 1:], paths[:, :-1]].sum(1) + trans[stop, paths[:, -1]]
    return scores.max(), torch.logsumexp(scores, 0)


def main():
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(0)
    training_data = make_sentences(10, gen)
    test_data = make_sentences(10, gen)
    word_to_ix = {f"w{i}": i for i in range(10)}
    tag_to_ix = {"B": 0, "I": 1, "O": 2, START_TAG: 3, STOP_TAG: 4}
    model = BiLSTM_CRF(len(word_to_ix), tag_to_ix, 8, 8)
    optimizer = optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-4)
    for epoch in range(4):
        for sentence, tags in training_data:
            model.zero_grad()
            sentence_in = prepare_sequence(sentence, word_to_ix)
            targets = torch.tensor([tag_to_ix[t] for t in tags], dtype=torch.long)
            loss = model.neg_log_likelihood(sentence_in, targets)
            loss.backward()
            optimizer.step()
    correct = total = exact = 0
    with torch.no_grad():
        for sentence, tags in test_data:
            _, path = model(prepare_sequence(sentence, word_to_ix))
            correct += sum(p == tag_to_ix[t] for p, t in zip(path, tags))
            total += len(tags)
            # Viterbi and the forward algorithm against enumeration of all 3**5 paths (one
            # feature computation: init_hidden draws a fresh random state per call)
            feats = model._get_lstm_features(prepare_sequence(sentence, word_to_ix))
            score, _ = model._viterbi_decode(feats)
            best, log_z = brute_force(model, feats)
            exact += bool(torch.isclose(score, best, atol=1e-4))
            exact += bool(torch.isclose(model._forward_alg(feats), log_z, atol=1e-4))
    acc = correct / total
    print(f"final nll {loss.item():.3f}, tag accuracy {acc:.3f}, exact checks {exact}/20")
    print(f"METRIC exact_plus_accuracy_over_10 {exact + acc / 10:.4f}")


if __name__ == "__main__":
    main()
