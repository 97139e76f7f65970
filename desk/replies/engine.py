"""The suggestion engine: which canned replies fit a customer message, and why.

In memory, no database: build an `Engine` from replies (key, language, title, body,
triggers) and past examples (customer text answered with a reply key); `suggest(text)`
ranks replies by words and concepts shared with the message (inverted index, idf weights),
BM25 over each topic's profile (its replies' triggers and title plus every past message
answered with it, weighted by how the answer went), trigger coverage, a rapidfuzz
`token_set_ratio` re-rank of the shortlist, nearest past examples, and the customer's
language; below a confidence threshold it suggests nothing. `desk.replies.index.engine()`
keeps one per process.
"""
import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from desk.replies.text import KNOWN_STEMS, analyse, fold

# Weights of the evidence; they sum to about 1 for a message that is a trigger word for word.
W_LEXICAL, W_COVERAGE, W_FUZZY, W_HISTORY, W_PROFILE = 0.35, 0.30, 0.15, 0.30, 0.80
FIELD_WEIGHTS = {"triggers": 1.0, "title": 0.7, "body": 0.25}
OTHER_LANGUAGE = 0.55  # score factor for a reply not in the customer's language
SIBLING_SHARE = 1.0  # history for a reply counts this much for its translations
NEIGHBOURS = 5
SIM_POWER = 2.0
SHORTLIST = 15
MIN_SCORE = 0.05
CONFIDENCE = 0.30  # a best score below this is a guess: no suggestion is shown
BM25_K1, BM25_B = 1.2, 0.5
PROFILE_FIELDS = {"triggers": 1.0, "title": 1.0, "body": 0.1}  # term frequency a field adds
TRIGGER_FLOOR = 2.0  # information (in mean idf units) a trigger needs to count in full
MAX_CHARS = 2000  # of the customer's text; the question is rarely further down
UNKNOWN_SHARE = 0.3
TYPO_CUTOFF = 87  # rapidfuzz ratio for mapping an unknown stem to a library one
LEXICAL_VISITS = 400  # postings read to find candidate replies (rarest features first)
HISTORY_VISITS = 1500  # postings read to find candidate neighbours among past examples
PROFILE_VISITS = 300  # topic postings read for BM25 (rarest features first)


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

    def __init__(self, replies, examples=(), version=None, confidence=CONFIDENCE):
        """`examples`: (reply key, customer text[, example id[, weight]]); ids default to
        positions, weights to 1 (a negative weight: the reply was wrong for that text)."""
        self.confidence = confidence
        self.version = version
        self.replies = list(replies)
        self._vocab: set[str] = set()
        self._vocab_by_letter: dict[str, list[str]] = defaultdict(list)
        self._fixes: dict[str, str] = {}
        docs = [self._reply_features(r) for r in self.replies]
        self._reply_features_of = [features for features, _t, _p in docs]
        self._triggers = [triggers for _f, triggers, _p in docs]
        self._reply_postings: dict[str, list[int]] = defaultdict(list)
        for i, features in enumerate(self._reply_features_of):
            for f in features:
                self._reply_postings[f].append(i)
        examples = list(examples)
        seen: dict[str, dict] = {}  # desks see the same short messages again and again
        analysed = [seen[text] if text in seen else seen.setdefault(text, analyse(text, self._fix).features)
                    for _key, text, *_rest in examples]
        self._set_idf(self._reply_features_of + analysed)
        self._group_of = [r.group for r in self.replies]
        self._position = {r.key: i for i, r in enumerate(self.replies)}
        self._titles: dict[str, str] | None = None
        self._group_index = {g: n for n, g in enumerate(dict.fromkeys(self._group_of))}
        self._group_at = [self._group_index[g] for g in self._group_of]
        self._replies_of_group: list[list[int]] = [[] for _ in self._group_index]
        for i, g in enumerate(self._group_at):
            self._replies_of_group[g].append(i)
        self._tf: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self._length = [0.0] * len(self._group_index)
        self._total_length = 0.0
        # A reply's own words start its topic's profile: each trigger as one past message.
        for i, (_features, _triggers, parts) in enumerate(docs):
            for features, weight in parts:
                self._add_to_profile(self._group_at[i], features, weight)
        self._examples: list[tuple[int, frozenset, float, object, float]] = []
        self._example_at: dict = {}
        self._postings: dict[str, list[int]] = defaultdict(list)
        for n, ((key, _text, *rest), features) in enumerate(zip(examples, analysed)):
            example_id = rest[0] if rest and rest[0] is not None else n
            self._store_example(key, features, example_id, rest[1] if len(rest) > 1 else 1.0)

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
        """(features with field weights, [(trigger features, stems)], [(features, profile tf)])."""
        features: dict[str, float] = {}
        triggers = []
        parts = []
        fields = {"triggers": list(reply.triggers), "title": [reply.title], "body": [reply.body]}
        for name, texts in fields.items():
            for text in texts:
                a = analyse(text, language=reply.language)
                parts.append((a.features, PROFILE_FIELDS[name]))
                for f in a.features:
                    features[f] = max(features.get(f, 0.0), FIELD_WEIGHTS[name])
                    if not f.startswith("C:"):
                        self._add_vocab(f)
                if name != "body" and a.features:
                    triggers.append((a.features, " ".join(a.stems)))
        return features, triggers, parts

    def _add_to_profile(self, g: int, features, weight: float) -> None:
        for f in features:
            self._tf[f][g] += weight
        before = self._length[g]
        self._length[g] = max(0.0, before + weight * len(features))
        self._total_length += self._length[g] - before

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

    def _store_example(self, key, features, example_id, weight=1.0) -> None:
        position = self._position.get(key)
        if position is None or not features or not weight:
            return
        norm = math.sqrt(sum(self.idf(f) ** 2 for f in features))
        n = len(self._examples)
        self._examples.append((position, frozenset(features), norm, example_id, weight))
        self._example_at[example_id] = n
        for f in features:
            self._postings[f].append(n)
        self._add_to_profile(self._group_at[position], features, weight)

    def add_example(self, key: str, text: str, example_id=None, weight: float = 1.0) -> None:
        """Learn that `text` was answered with reply `key` (`weight` < 1 for an edited reply,
        < 0 for a suggestion the agent passed over); idf stays as built."""
        self._store_example(key, analyse(text, self._fix).features,
                            len(self._examples) if example_id is None else example_id, weight)

    def idf(self, feature: str) -> float:
        return self._idf.get(feature, self._idf_unknown)

    @property
    def example_count(self) -> int:
        return len(self._examples)

    # -- ranking --------------------------------------------------------------------------

    def suggest(self, text: str, language: str | None = None, limit: int = 3,
                exclude=frozenset(), confident: bool = True) -> list[Suggestion]:
        """Top `limit` replies for a customer message, none when the best is below the
        confidence threshold (`confident=False` ranks anyway); `language` is the fallback
        when the text does not tell; `exclude` holds example ids to leave out (cross-validation)."""
        ranked = self.rank(text, language, limit, exclude)
        if confident and (not ranked or ranked[0][0] < self.confidence):
            return []
        return [s for _score, s in ranked]

    def rank(self, text: str, language: str | None = None, limit: int = 3,
             exclude=frozenset()) -> list[tuple[float, Suggestion]]:
        """[(score, suggestion)] best first, whatever the confidence."""
        query = analyse((text or "")[:MAX_CHARS], self._fix, language)
        if not query.features or not self.replies:
            return []
        language = query.language
        weights = {f: self.idf(f) for f in query.features}
        lexical = self._lexical(weights)
        history, counts = self._history(weights, exclude)
        profile = self._profile(weights, exclude)
        prelim = {i: W_LEXICAL * lexical.get(i, 0.0) + W_HISTORY * history.get(i, 0.0)
                  + W_PROFILE * profile.get(self._group_at[i], 0.0)
                  for i in lexical.keys() | history.keys()
                  | {i for g in heapq.nlargest(SHORTLIST, profile, key=profile.get)
                     for i in self._replies_of_group[g]}}
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
        return [(score, self._suggestion(i, score, query, counts.get(i, 0)))
                for score, i in scored[:limit] if score >= MIN_SCORE]

    def _profile(self, weights, exclude) -> dict[int, float]:
        """BM25 of the message against each topic's profile, as a share of the most a
        profile could score (saturating: the tenth past message adds less than the first)."""
        total = sum(w * (1.0 if f in self._tf else UNKNOWN_SHARE) for f, w in weights.items()) or 1.0
        removed: dict[tuple[str, int], float] = defaultdict(float)
        for example_id in exclude:  # cross-validation: a left-out message leaves its profile
            n = self._example_at.get(example_id)
            if n is not None:
                position, features, _norm, _id, weight = self._examples[n]
                for f in features & weights.keys():
                    removed[f, self._group_at[position]] += weight
        scores: dict[int, float] = defaultdict(float)
        k1, b = BM25_K1, BM25_B
        mean = self._total_length / len(self._length) or 1.0
        visited = 0
        for f in sorted(weights, key=weights.get, reverse=True):
            postings = self._tf.get(f)
            # A feature in most of a large library's topics tells them apart little and costs
            # most: read rarest first, within a budget (a small library is read whole).
            if not postings or (visited and visited + len(postings) > PROFILE_VISITS):
                continue
            visited += len(postings)
            w = weights[f]
            for g, tf in postings.items():
                tf -= removed.get((f, g), 0.0)
                if tf > 0:
                    norm = k1 * (1 - b + b * self._length[g] / mean)
                    scores[g] += w * tf * (k1 + 1) / (tf + norm) / (k1 + 1)
        return {g: v / total for g, v in scores.items()}

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
            position, e_features, e_norm, example_id, weight = self._examples[n]
            if example_id in exclude or weight <= 0:
                continue
            dot = sum(squares[f] for f in e_features & q_keys)
            sims.append(((dot / (q_norm * e_norm)) ** SIM_POWER * weight, n))
        votes: dict[int, float] = defaultdict(float)
        counts: dict[int, int] = defaultdict(int)
        for sim, n in heapq.nlargest(NEIGHBOURS, sims):
            position = self._examples[n][0]
            counts[position] += 1
            for j in self._replies_of_group[self._group_at[position]]:
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


def evaluate(replies, cases, history=(), leave_one_out=False, folds=0,
             confidence=CONFIDENCE) -> dict:
    """Accuracy of `cases` [{"id", "text", "expected"}] overall, per language and per intent.

    With `leave_one_out`, `history` is the cases themselves and each case is scored without
    its own line; with `folds` = k, the cases split into k folds (every k-th case) and each
    fold is scored with the other folds (plus `history`) as history. top1/top3 rank whatever
    the confidence; `shown` is the share with a suggestion at the threshold, `precision` the
    share of those whose first suggestion is right; a case without one is a miss."""
    replies = list(replies)
    cases = list(cases)
    learned = list(history)
    if leave_one_out or folds:
        learned = learned + cases
    engine = Engine(replies, [(h["expected"], h["text"]) for h in learned], confidence=confidence)
    language_of = {r.key: r.language for r in replies}
    group_of = {r.key: r.group for r in replies}
    offset = len(learned) - len(cases)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    misses = []
    for n, case in enumerate(cases):
        if folds:
            exclude = {offset + m for m in range(n % folds, len(cases), folds)}
        else:
            exclude = {offset + n} if leave_one_out else frozenset()
        ranked = engine.rank(case["text"], limit=3, exclude=exclude)
        keys = [s.key for _score, s in ranked]
        shown = bool(ranked) and ranked[0][0] >= engine.confidence
        expected = case["expected"]
        top1, top3 = keys[:1] == [expected], expected in keys
        for bucket in ("all", language_of.get(expected, "?"), "intent:" + group_of.get(expected, expected)):
            counts = totals[bucket]
            counts[0] += 1
            counts[1] += top1
            counts[2] += top3
            counts[3] += shown
            counts[4] += shown and top1
        if not top1 or not shown:
            misses.append({"id": case.get("id"), "text": case["text"], "expected": expected,
                           "got": keys, "shown": shown})
    figures = {bucket: {"n": n, "top1": hits1 / n, "top3": hits3 / n, "shown": shown / n,
                        "precision": right / shown if shown else None,
                        "shown_top1": right / n}
               for bucket, (n, hits1, hits3, shown, right) in sorted(totals.items())}
    return {"figures": figures, "misses": misses, "confidence": engine.confidence}
