#!/usr/bin/env python3
"""Generate the tiny synthetic corpus shipped with nas (PTB's file names and format).

Sentences come from a small probabilistic grammar, so a language model can learn real structure
(agreement, word order) and its perplexity falls well below the vocabulary size in seconds of
training. Lowercase, one sentence a line with PTB's leading and trailing space, numbers as `N`,
rare words as `<unk>`. Deterministic: `python3 generate.py` rewrites the same three files.
Licence: this generator and its output are part of nas (MIT OR Apache-2.0).
"""
import random

rng = random.Random(1611_01578)
DET = ["the", "a", "every", "no", "this"]
ADJ = ["big", "small", "red", "old", "new", "quiet", "quick", "blue", "cold", "warm"]
NOUN_SG = ["cat", "dog", "bank", "market", "trader", "company", "bird", "child", "model", "network"]
NOUN_PL = [n + "s" for n in NOUN_SG]
VERB_SG = ["sees", "likes", "buys", "sells", "trains", "finds", "follows", "watches"]
VERB_PL = ["see", "like", "buy", "sell", "train", "find", "follow", "watch"]
ADV = ["quickly", "slowly", "again", "today", "often"]
PREP = ["near", "with", "behind", "under"]
CONJ = ["and", "but", "because"]


def noun_phrase():
    plural = rng.random() < 0.4
    words = [] if plural and rng.random() < 0.5 else [rng.choice(DET[:2] if plural else DET)]
    if plural and words and words[0] == "a":
        words = ["the"]
    if rng.random() < 0.5:
        words.append(rng.choice(ADJ))
    if rng.random() < 0.1:
        words.append("<unk>")
    words.append(rng.choice(NOUN_PL if plural else NOUN_SG))
    if rng.random() < 0.2:
        words += [rng.choice(PREP)] + noun_phrase()[0]
    return words, plural


def clause():
    subj, plural = noun_phrase()
    verb = rng.choice(VERB_PL if plural else VERB_SG)
    obj, _ = noun_phrase()
    words = subj + [verb] + obj
    if rng.random() < 0.3:
        words.append(rng.choice(ADV))
    if rng.random() < 0.15:
        words += ["for", "N", "years"]
    return words


def sentence():
    words = clause()
    if rng.random() < 0.3:
        words += [rng.choice(CONJ)] + clause()
    return " " + " ".join(words) + " "


for name, n in [("train", 2000), ("valid", 250), ("test", 250)]:
    with open(f"ptb.{name}.txt", "w") as f:
        for _ in range(n):
            f.write(sentence() + "\n")
