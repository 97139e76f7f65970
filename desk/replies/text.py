"""How customers write, made comparable: normalisation, slang, stems, concepts, es/en detection.

Pure functions, no database. `analyse(text)` turns a social-media message into features
(stems and cross-language concepts) plus the surface words behind each feature, so the
suggestion engine can score and the UI can highlight what matched.
"""
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import snowballstemmer

from desk.replies.lexicon import CONCEPTS, EN_WORDS, ES_WORDS, SLANG, STOPWORDS

_URL = re.compile(r"(https?://|www\.)\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_MENTION = re.compile(r"(?<![\w@])@\w+")
_PRICE = re.compile(r"([$€£]\s?\d+(?:[.,]\d+)?|\d+(?:[.,]\d+)?\s?(?:€|\$|£|(?:eur|euros?|usd|dollars?|"
                    r"dolares|pounds?|libras?)\b))")
_PERCENT = re.compile(r"\d+(?:[.,]\d+)?\s?%")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d \-.]{7,}\d(?!\w)")
_ID_NUMBER = re.compile(r"\b\d{7,8}[a-z]\b|\b[a-z]\d{7}[a-z0-9]\b")
_NUMBER = re.compile(r"\d+(?:[.,/]\d+)*(?:k\b|m\b)?")
_TOKEN = re.compile(r"<\w+>|[a-z0-9ñ]+")
_REPEAT3 = re.compile(r"(\w)\1{2,}")
# English contractions become whole words before punctuation is dropped ("isn't" -> "is not").
_CONTRACTIONS = [(re.compile(p), r) for p, r in [
    (r"\bcan['’]t\b", "can not"), (r"\bwon['’]t\b", "will not"), (r"\bain['’]t\b", "is not"),
    (r"n['’]t\b", " not"), (r"['’]m\b", " am"), (r"['’]re\b", " are"), (r"['’]ve\b", " have"),
    (r"['’]ll\b", " will"), (r"['’]d\b", " would"), (r"['’]s\b", "")]]
_NEGATIONS = {"no", "not", "never", "nunca", "ni", "nadie", "nobody", "nothing", "nada"}
# Snowball (the Porter family, kept by snowballstem.org): one stemmer per language.
_STEMMERS = {"es": snowballstemmer.stemmer("spanish"), "en": snowballstemmer.stemmer("english")}
# A capitalised word inside a sentence is usually a place or a name: no evidence of topic.
_NAME = re.compile(r"(?<=[\w,] )[A-ZÁÉÍÓÚÑ][a-záéíóúñ]+")


def fold(text: str) -> str:
    """Lower-case without accents (ñ -> n), as customers type on a phone."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=200_000)
def stem(word: str, language: str | None = None) -> str:
    """Snowball stem in `language` ('retrasando', 'retraso' -> 'retras'); a word no known
    language claims is stemmed as Spanish when that changes it, else as English."""
    if len(word) <= 3 or word.startswith("<") or word.isdigit() or word in _NEGATIONS:
        return word
    if language not in _STEMMERS:
        language = _WORD_LANGUAGE.get(word) or ("en" if word.endswith(_EN_ENDINGS) else "es")
    return _STEMMERS[language].stemWord(word)


def squeeze(word: str) -> str:
    """Undo elongations ('holaaa' -> 'hola', 'pleeease' -> 'please', keeps 'free')."""
    if not _REPEAT3.search(word):
        return word
    single = _REPEAT3.sub(r"\1", word)
    double = _REPEAT3.sub(r"\1\1", word)
    for candidate in (single, double):
        if candidate in _KNOWN:
            return candidate
    return single


def surface_words(text: str) -> list[str]:
    """The message split into folded words, placeholders for numbers, prices and contacts."""
    text = fold(text)
    if "'" in text or "’" in text:
        for pattern, repl in _CONTRACTIONS:
            text = pattern.sub(repl, text)
    if "@" in text:
        text = _MENTION.sub(" ", _EMAIL.sub(" <email> ", text))
    if "http" in text or "www." in text:
        text = _URL.sub(" <url> ", text)
    if any(c.isdigit() for c in text):  # the patterns below all need a digit
        text = _PRICE.sub(" <price> ", text)
        text = _PERCENT.sub(" <percent> ", text)
        text = _PHONE.sub(" <phone> ", text)
        text = _ID_NUMBER.sub(" <idnum> ", text)
        text = _NUMBER.sub(" <num> ", text)
    words = []
    for raw in _TOKEN.findall(text):
        word = squeeze(raw)
        expanded = SLANG.get(word)
        words.extend(expanded.split() if expanded else [word])
    return words


@dataclass
class Analysis:
    """Features of one text: weight per feature, and the surface words behind each one."""

    words: list[str]
    features: dict[str, float] = field(default_factory=dict)
    sources: dict[str, set[str]] = field(default_factory=dict)
    stems: list[str] = field(default_factory=list)
    language: str | None = None  # the one its words were stemmed in

    def add(self, feature: str, weight: float, source: str) -> None:
        self.features[feature] = max(self.features.get(feature, 0.0), weight)
        self.sources.setdefault(feature, set()).add(source)


def analyse(text: str, fix=None, language: str | None = None) -> Analysis:
    """Features of a text: content stems, concepts (one- and two-word) and placeholder tokens.

    Stems are in the language the text is written in (detected; `language` when it does
    not tell). `fix(stem) -> stem` may map an unknown stem to a known one (typo correction)."""
    words = surface_words(text or "")
    language = _language_of(words, text or "")[0] or language
    names = {fold(n) for n in _NAME.findall(text or "")} - _KNOWN
    content = [w for w in words if (w not in STOPWORDS or w in _NEGATIONS) and w not in names]
    stems = [stem(w, language) for w in content]
    if fix is not None:
        stems = [s if s in _CONCEPT_OF or w in _CONCEPT_OF or s.startswith("<") else fix(s)
                 for w, s in zip(content, stems)]
    result = Analysis(words=words, stems=stems, language=language)
    for word, s in zip(content, stems):
        if s in _NEGATIONS or len(s) < 2 or s == "<num>":  # a bare number says nothing
            continue
        result.add(s, 1.0, word)
        # A listed word counts for its concepts whatever its stem (a misspelt or other-
        # language word stemmed in the message's language).
        for concept in _CONCEPT_OF.get(s, ()) + _CONCEPT_OF.get(word, ()):
            result.add(concept, 1.0, word)
    for i in range(len(stems) - 1):
        pair = content[i] + " " + content[i + 1]
        for concept in _CONCEPT_OF.get(stems[i] + " " + stems[i + 1], ()) + _CONCEPT_OF.get(pair, ()):
            result.add(concept, 1.0, pair)
    return result


def detect_language(text: str) -> tuple[str | None, float]:
    """('es' | 'en' | None, confidence 0..1) from function words and Spanish-only marks."""
    return _language_of(surface_words(text), text)


def _language_of(words: list[str], text: str) -> tuple[str | None, float]:
    marks = sum(text.count(c) for c in "ñÑ¿¡áéíóúÁÉÍÓÚ")
    es = sum(1 for w in words if w in _ONLY_ES) + min(marks, 3)
    en = sum(1 for w in words if w in _ONLY_EN)
    # Verb and noun endings break ties: vosotros forms, -cion, -mente / -ing, -ly.
    es += 0.5 * sum(1 for w in words if len(w) > 5 and w.endswith(("ais", "eis", "cion", "mente")))
    en += 0.5 * sum(1 for w in words if len(w) > 4 and w.endswith(("ing", "ly")))
    if es == en:
        return None, 0.0
    language = "es" if es > en else "en"
    return language, abs(es - en) / (es + en)


def _build_concept_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, set[str]] = {}
    for concept, phrases in CONCEPTS.items():
        for phrase in phrases:
            words = [w for w in surface_words(phrase) if w not in STOPWORDS or w in _NEGATIONS]
            # Listed words count as written and under either language's stem.
            for key in {" ".join(words), *(" ".join(stem(w, lang) for w in words) for lang in _STEMMERS)}:
                if key:
                    index.setdefault(key, set()).add("C:" + concept)
    return {key: tuple(sorted(value)) for key, value in index.items()}


_EN_ENDINGS = ("ing", "ed", "ly", "ness", "ful", "less", "ies")
_WORD_LANGUAGE = {w: "es" for w in ES_WORDS - EN_WORDS} | {w: "en" for w in EN_WORDS - ES_WORDS}
_KNOWN = set(ES_WORDS) | set(EN_WORDS) | set(SLANG) | {
    w for phrases in CONCEPTS.values() for p in phrases for w in fold(p).split()}
_CONCEPT_OF = _build_concept_index()
_ONLY_ES, _ONLY_EN = ES_WORDS - EN_WORDS, EN_WORDS - ES_WORDS
KNOWN_STEMS = frozenset(k for k in _CONCEPT_OF if " " not in k)
