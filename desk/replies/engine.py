"""The suggestion engine: which canned replies fit a customer message, and why.

In memory, no database: build an `Engine` from replies (key, language, title, body,
triggers) and past examples (customer text answered with a reply key); `suggest(text)`
ranks replies by words and concepts shared with the message (inverted index, idf weights),
trigger coverage, a rapidfuzz `token_set_ratio` re-rank of the shortlist, nearest past
examples, and the customer's language. `desk.replies.index.engine()` keeps one per process.
"""
import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from desk.replies.text import KNOWN_STEMS, analyse, detect_language, fold

# Weights of the evidence; they sum to about 1 for a message that is a trigger word for word.
W_LEXICAL, W_COVERAGE, W_FUZZY, W_HISTORY = 0.35, 0.30, 0.15, 0.50
FIELD_WEIGHTS = {"triggers": 1.0, "title": 0.7, "body": 0.25}
OTHER_LANGUAGE = 0.55  # score factor for a reply not in the customer's language
SIBLING_SHARE = 1.0  # history for a reply counts this much for its translations
NEIGHBOURS = 5
SIM_POWER = 2.0
SHORTLIST = 15
MIN_SCORE = 0.05
TRIGGER_FLOOR = 2.0  # information (in mean idf units) a trigger needs to count in full
MAX_CHARS = 2000  # of the customer's text; the question is rarely further down
UNKNOWN_SHARE = 0.3
TYPO_CUTOFF = 87  # rapidfuzz ratio for mapping an unknown stem to a library one
LEXICAL_VISITS = 400  # postings read to find candidate replies (rarest features first)
HISTORY_VISITS = 1500  # postings read to find candidate neighbours among past examples


@dataclass(frozen=True)
class ReplyDoc:
    """What the engine needs of one canned reply."""

    key: str
    language: str
    title: str
    body: str = ""
    triggers: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        """Translations share a key up to the language suffix ('refund-es', 'refund-en')."""
        suffix = "-" + (self.language or "")
        return self.key[: -len(suffix)] if self.key.endswith(suffix) else self.key


@dataclass
class Suggestion:
    key: str
    title: str
    language: str
    score: int  # 0-100
    matched: list[str] = field(default_factory=list)  # the customer's words that matched
    similar_examples: int = 0  # past messages like this one answered with this reply


class Engine:
    """Index of a reply library plus past examples; build once, add examples as they come."""

    def __init__(self, replies, examples=(), version=None):
        """`examples`: (reply key, customer text[, example id]); ids default to positions."""
        self.version = version
        self.replies = list(replies)
        self._vocab: set[str] = set()
        self._vocab_by_letter: dict[str, list[str]] = defaultdict(list)
        self._fixes: dict[str, str] = {}
        docs = [self._reply_features(r) for r in self.replies]
        self._reply_features_of = [features for features, _t in docs]
        self._triggers = [triggers for _f, triggers in docs]
        self._reply_postings: dict[str, list[int]] = defaultdict(list)
        for i, features in enumerate(self._reply_features_of):
            for f in features:
                self._reply_postings[f].append(i)
        examples = list(examples)
        seen: dict[str, dict] = {}  # desks see the same short messages again and again
        analysed = [seen[text] if text in seen else seen.setdefault(text, analyse(text, self._fix).features)
                    for _key, text, *_id in examples]
        self._set_idf(self._reply_features_of + analysed)
        self._group_of = [r.group for r in self.replies]
        self._by_group: dict[str, list[int]] = defaultdict(list)
        for i, g in enumerate(self._group_of):
            self._by_group[g].append(i)
        self._position = {r.key: i for i, r in enumerate(self.replies)}
        self._titles: dict[str, str] | None = None
        self._examples: list[tuple[int, frozenset, float, object]] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        for n, ((key, _text, *example_id), features) in enumerate(zip(examples, analysed)):
            self._store_example(key, features, example_id[0] if example_id else n)

    def _set_idf(self, documents) -> None:
        """idf over replies and past examples, fixed until the next build."""
        df: dict[str, int] = defaultdict(int)
        for features in documents:
            for f in features:
                df[f] += 1
        total = len(documents)
        self._idf = {f: math.log(1 + total / (n + 1)) for f, n in df.items()}
        self._idf_unknown = math.log(1 + total)
        mean = sum(self._idf.values()) / len(self._idf) if self._idf else 1.0
        self._trigger_floor = TRIGGER_FLOOR * mean

    # -- building -------------------------------------------------------------------------

    def _reply_features(self, reply: ReplyDoc):
        features: dict[str, float] = {}
        triggers = []
        fields = {"triggers": list(reply.triggers), "title": [reply.title], "body": [reply.body]}
        for name, texts in fields.items():
            for text in texts:
                a = analyse(text)
                for f in a.features:
                    features[f] = max(features.get(f, 0.0), FIELD_WEIGHTS[name])
                    if not f.startswith("C:"):
                        self._add_vocab(f)
                if name != "body" and a.features:
                    triggers.append((a.features, " ".join(a.stems)))
        return features, triggers

    def _add_vocab(self, stem: str) -> None:
        if len(stem) >= 4 and stem not in self._vocab:
            self._vocab.add(stem)
            self._vocab_by_letter[stem[0]].append(stem)

    def _fix(self, stem: str) -> str:
        """A stem the library does not know, mapped to a close one it knows (typos)."""
        if len(stem) < 5 or stem in KNOWN_STEMS or stem in self._vocab:
            return stem
        if stem not in self._fixes:
            choices = self._vocab_by_letter.get(stem[0], [])
            best = process.extractOne(stem, choices, scorer=fuzz.ratio, score_cutoff=TYPO_CUTOFF)
            if len(self._fixes) > 50_000:
                self._fixes.clear()
            self._fixes[stem] = best[0] if best else stem
        return self._fixes[stem]

    def _store_example(self, key, features, example_id) -> None:
        position = self._position.get(key)
        if position is None or not features:
            return
        norm = math.sqrt(sum(self.idf(f) ** 2 for f in features))
        n = len(self._examples)
        self._examples.append((position, frozenset(features), norm, example_id))
        for f in features:
            self._postings[f].append(n)

    def add_example(self, key: str, text: str, example_id=None) -> None:
        """Learn that `text` was answered with reply `key` (idf stays as built)."""
        self._store_example(key, analyse(text, self._fix).features, example_id)

    def idf(self, feature: str) -> float:
        return self._idf.get(feature, self._idf_unknown)

    @property
    def example_count(self) -> int:
        return len(self._examples)

    # -- ranking --------------------------------------------------------------------------

    def suggest(self, text: str, language: str | None = None, limit: int = 3,
                exclude=frozenset()) -> list[Suggestion]:
        """Top `limit` replies for a customer message; `language` is the fallback when the
        text does not tell; `exclude` holds example ids to leave out (cross-validation)."""
        query = analyse((text or "")[:MAX_CHARS], self._fix)
        if not query.features or not self.replies:
            return []
        detected, _confidence = detect_language((text or "")[:MAX_CHARS])
        language = detected or language
        weights = {f: self.idf(f) for f in query.features}
        lexical = self._lexical(weights)
        history, counts = self._history(weights, exclude)
        prelim = {i: W_LEXICAL * lexical.get(i, 0.0) + W_HISTORY * history.get(i, 0.0)
                  for i in lexical.keys() | history.keys()}
        q_string = " ".join(dict.fromkeys(query.stems))
        scored = []
        for i in heapq.nlargest(SHORTLIST, prelim, key=prelim.get):
            reply = self.replies[i]
            coverage, fuzzy = self._trigger_match(i, weights, q_string)
            score = prelim[i] + W_COVERAGE * coverage + W_FUZZY * fuzzy
            if language and reply.language and reply.language != language:
                score *= OTHER_LANGUAGE
            scored.append((score, i))
        scored.sort(key=lambda pair: (-pair[0], self.replies[pair[1]].key))
        return [self._suggestion(i, score, query, counts.get(i, 0))
                for score, i in scored[:limit] if score >= MIN_SCORE]

    @staticmethod
    def _recall(weights, postings_of, visit_limit, keep) -> list:
        """The `keep` best ids by a partial score over the message's rarest features, read
        until about `visit_limit` postings: common features then only refine exact scores."""
        partial: dict = defaultdict(float)
        visited = 0
        for f in sorted(weights, key=weights.get, reverse=True):
            postings = postings_of.get(f)
            if not postings or visited + len(postings) > visit_limit * (1 if visited else 4):
                continue
            w = weights[f]
            for p in postings:
                partial[p] += w
            visited += len(postings)
        return heapq.nlargest(keep, partial, key=partial.get)

    def _lexical(self, weights) -> dict[int, float]:
        """Share of the message's information (idf) found in each reply."""
        # Words the library never uses say little about which reply fits: they count less.
        total = sum(w * (1.0 if f in self._reply_postings else UNKNOWN_SHARE)
                    for f, w in weights.items()) or 1.0
        scores = {}
        for i in self._recall(weights, self._reply_postings, LEXICAL_VISITS, SHORTLIST * 4):
            features = self._reply_features_of[i]
            scores[i] = sum(w * features[f] for f, w in weights.items() if f in features) / total
        return scores

    def _trigger_match(self, i, weights, q_string) -> tuple[float, float]:
        """Best share of one trigger's information present in the message, and best fuzzy
        token-set similarity of the message to a trigger (typos, word order)."""
        coverage = fuzzy = 0.0
        for t_features, t_string in self._triggers[i]:
            total = sum(self.idf(f) for f in t_features)
            hit = sum(self.idf(f) for f in t_features.keys() & weights.keys())
            # A one-word trigger fully present is weaker evidence than a whole phrase.
            mass = min(1.0, total / self._trigger_floor) if total else 0.0
            coverage = max(coverage, mass * hit / total if total else 0.0)
            if t_string:
                ratio = fuzz.token_set_ratio(q_string, t_string, score_cutoff=60)
                fuzzy = max(fuzzy, mass * ratio / 100.0)
        return coverage, fuzzy

    def _history(self, weights, exclude) -> tuple[dict[int, float], dict[int, int]]:
        """Votes of the nearest past examples (idf cosine), shared with translations."""
        if not self._examples:
            return {}, {}
        squares = {f: w * w for f, w in weights.items()}
        q_norm = math.sqrt(sum(squares.values()))
        q_keys = squares.keys()
        sims = []
        for n in self._recall(squares, self._postings, HISTORY_VISITS, NEIGHBOURS * 10):
            position, e_features, e_norm, example_id = self._examples[n]
            if example_id in exclude:
                continue
            dot = sum(squares[f] for f in e_features & q_keys)
            sims.append(((dot / (q_norm * e_norm)) ** SIM_POWER, n))
        votes: dict[int, float] = defaultdict(float)
        counts: dict[int, int] = defaultdict(int)
        for sim, n in heapq.nlargest(NEIGHBOURS, sims):
            position = self._examples[n][0]
            counts[position] += 1
            for j in self._by_group[self._group_of[position]]:
                votes[j] += sim if j == position else sim * SIBLING_SHARE
        return {j: min(v, 1.0) for j, v in votes.items()}, counts

    def _suggestion(self, i, score, query, similar) -> Suggestion:
        reply = self.replies[i]
        reply_features = self._reply_features_of[i]
        matched = sorted({w for f, words in query.sources.items() if f in reply_features
                          for word in words for w in word.split() if not w.startswith("<")})
        return Suggestion(reply.key, reply.title, reply.language, min(100, round(score * 100)),
                          matched, similar)

    # -- slash search ---------------------------------------------------------------------

    def search_titles(self, query: str, limit: int = 8) -> list[tuple[str, int]]:
        """Fuzzy title search for the composer's `/` command: [(key, score)]."""
        if self._titles is None:
            self._titles = {r.key: fold(r.title + " " + r.key) for r in self.replies}
        titles = self._titles
        q = fold(query).strip()
        if not q:
            return [(r.key, 0) for r in sorted(self.replies, key=lambda r: r.title)[:limit]]
        found = process.extract(q, titles, scorer=fuzz.WRatio, limit=limit, score_cutoff=50)
        return [(key, round(score)) for _title, score, key in found]


def evaluate(replies, cases, history=(), leave_one_out=False) -> dict:
    """Top-1/top-3 accuracy of `cases` [{"id", "text", "expected"}], overall and per language.

    With `leave_one_out`, `history` is the cases themselves and each case is scored without
    its own line (never its own answer)."""
    replies = list(replies)
    if leave_one_out:
        history = cases
    engine = Engine(replies, [(h["expected"], h["text"]) for h in history])
    language_of = {r.key: r.language for r in replies}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    misses = []
    for n, case in enumerate(cases):
        exclude = {n} if leave_one_out else frozenset()
        ranked = [s.key for s in engine.suggest(case["text"], limit=3, exclude=exclude)]
        top1, top3 = ranked[:1] == [case["expected"]], case["expected"] in ranked
        for bucket in ("all", language_of.get(case["expected"], "?")):
            totals[bucket][0] += 1
            totals[bucket][1] += top1
            totals[bucket][2] += top3
        if not top1:
            misses.append({"id": case.get("id"), "text": case["text"],
                           "expected": case["expected"], "got": ranked})
    figures = {bucket: {"n": n, "top1": hits1 / n, "top3": hits3 / n}
               for bucket, (n, hits1, hits3) in sorted(totals.items())}
    return {"figures": figures, "misses": misses}
