"""The suggestion engine: normalisation of social-media text, language, history, accuracy floor."""
import json
from pathlib import Path

import pytest

from desk.replies.engine import Engine, ReplyDoc, evaluate
from desk.replies.text import analyse, detect_language, fold, surface_words

FIXTURES = Path(__file__).parents[1] / "fixtures"
LIBRARY_FILE = Path(__file__).parents[2] / "desk" / "demo" / "canned-replies.json"
LIBRARY = [ReplyDoc(r["key"], r["language"], r["title"], r["body"], tuple(r["triggers"]))
           for r in json.loads(LIBRARY_FILE.read_text())["replies"]]


def load_cases(name: str) -> list[dict]:
    """The cases of one evaluation set in tests/fixtures (JSON lines)."""
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


CASES = load_cases("suggestions-dev.jsonl")


@pytest.fixture(scope="module")
def engine():
    return Engine(LIBRARY)


def keys(found):
    return [s.key for s in found]


@pytest.mark.parametrize("text, words", [
    ("@tienda HOLAAA!! 😍😍 mi pedido", ["hola", "mi", "pedido"]),
    ("xq no me llega? porfa k alguien me diga", ["porque", "no", "me", "llega", "por", "favor",
                                                  "que", "alguien", "me", "diga"]),
    ("pls help thx", ["please", "help", "thanks"]),
    ("Pedido 48213 de 25,90€ o $30", ["pedido", "<num>", "de", "<price>", "o", "<price>"]),
    ("mira https://example.com/x?y=1 y escríbeme a ana@mail.com", ["mira", "<url>", "y",
                                                                   "escribeme", "a", "<email>"]),
    ("it isn't working, can't log in", ["it", "is", "not", "working", "can", "not", "log", "in"]),
    ("tmb dnd está", ["tambien", "donde", "esta"]),
    ("llamadme al 612 345 678", ["llamadme", "al", "<phone>"]),
])
def test_surface_words_normalise_social_media_writing(text, words):
    assert surface_words(text) == words


def test_accents_case_emoji_and_mentions_do_not_change_features():
    plain = analyse("donde esta mi pedido").features
    assert analyse("¿DÓNDE está mi PEDIDO? 😡🙏 @tienda @soporte").features == plain
    assert fold("Ñandú ÉXITO") == "nandu exito"


@pytest.mark.parametrize("text, language", [
    ("hola, cuándo llega mi pedido?", "es"), ("donde esta mi pedido q no llega", "es"),
    ("where is my order? no tracking yet", "en"), ("pls cancel my order thx", "en"),
    ("escribidme q no me contestais", "es"),
])
def test_language_detection(text, language):
    assert detect_language(text)[0] == language


def test_spanish_message_gets_spanish_replies_first(engine):
    found = engine.suggest("dnd esta mi pedidoooo?? xq no llega 😩")
    assert found[0].key == "order-status-es" and found[0].language == "es"
    assert engine.suggest("where's my order?? no tracking 🙄")[0].key == "order-status-en"


def test_language_fallback_when_the_text_does_not_tell(engine):
    assert detect_language("stock")[0] is None
    assert engine.suggest("stock", language="es")[0].key == "availability-es"
    assert engine.suggest("stock", language="en")[0].key == "availability-en"


def test_typos_slang_and_missing_accents(engine):
    assert engine.suggest("kiero un reembolzo porfa")[0].key == "refund-es"
    assert engine.suggest("olvide mi contrasena y no puedo entrar")[0].key == "account-access-es"
    assert engine.suggest("i cant login, forgot my pasword plz")[0].key == "account-access-en"
    assert engine.suggest("me cobrasteis 49,99€ dos veces!!")[0].key == "payment-problem-es"


def test_suggestion_explains_itself(engine):
    top = engine.suggest("hola, quiero cancelar mi pedido porfa")[0]
    assert top.key == "cancel-order-es" and 0 < top.score <= 100
    assert {"cancelar", "pedido"} <= set(top.matched)


def test_empty_one_word_and_empty_library():
    engine = Engine(LIBRARY)
    assert engine.suggest("") == [] and engine.suggest("   😀 @tienda ") == []
    assert engine.suggest("hola") == [] or len(engine.suggest("hola")) <= 3
    assert engine.suggest("reembolso")[0].key == "refund-es"
    empty = Engine([])
    assert empty.suggest("dónde está mi pedido") == [] and empty.search_titles("pedido") == []


def test_history_shifts_the_ranking():
    text = "mi paquete lleva en aduanas desde el lunes"
    without = Engine(LIBRARY).suggest(text)
    assert without[0].key == "shipping-delay-es"
    # This desk answers customs questions with the order-status reply (asks for the number).
    history = [("order-status-es", "mi paquete está en aduanas"),
               ("order-status-es", "el paquete sigue retenido en aduanas"),
               ("order-status-es", "lleva en aduanas desde el martes")]
    learned = Engine(LIBRARY, history)
    assert learned.suggest(text)[0].key == "order-status-es"
    assert learned.suggest(text)[0].similar_examples == 3
    added = Engine(LIBRARY)
    for key, past in history:
        added.add_example(key, past)
    assert added.suggest(text)[0].key == "order-status-es"


def test_history_never_uses_a_case_as_its_own_answer():
    engine = Engine(LIBRARY, [("jobs-es", "zarzamoras zarzamoras")])
    assert set(keys(engine.suggest("zarzamoras"))) == {"jobs-es", "jobs-en"}
    assert engine.suggest("zarzamoras", exclude={0}) == []


def test_stemming_follows_the_message_language():
    assert analyse("retrasando el envío").stems == ["retras", "envi"]
    assert analyse("my orders were delayed").stems == ["order", "delay"]
    # Voseo and apostrophe-less English are understood as their standard forms.
    assert "C:not_working" in analyse("the charger doesnt work").features
    assert detect_language("che, me podés decir q pasa")[0] == "es"


def test_no_suggestion_when_nothing_fits_well(engine):
    assert engine.suggest("el perro de mi vecino ladra mucho") == []
    ranked = engine.rank("el perro de mi vecino ladra mucho")
    assert all(score < engine.confidence for score, _s in ranked)
    assert engine.suggest("el perro de mi vecino ladra mucho", confident=False) == [
        s for _score, s in ranked]


def test_a_suggestion_passed_over_counts_against_it():
    text = "mi paquete lleva en aduanas desde el lunes"
    taught = [("order-status-es", "mi paquete está en aduanas"),
              ("order-status-es", "el paquete sigue retenido en aduanas"),
              ("order-status-es", "lleva en aduanas desde el martes")]
    assert Engine(LIBRARY, taught).suggest(text)[0].key == "order-status-es"
    passed = [(key, past, f"passed {n}", -1.0) for n, (key, past) in enumerate(taught)]
    assert Engine(LIBRARY, taught + passed).suggest(text)[0].key != "order-status-es"
    # An edited answer teaches less than one sent as written.
    full = Engine(LIBRARY, [("jobs-es", "zarzamoras")]).rank("zarzamoras")[0][0]
    edited = Engine(LIBRARY, [("jobs-es", "zarzamoras", 0, 0.5)]).rank("zarzamoras")[0][0]
    assert 0 < edited < full


def test_slash_search_by_fuzzy_title(engine):
    assert engine.search_titles("reembolzo")[0][0] == "refund-es"
    assert engine.search_titles("cancel")[0][0] in ("cancel-order-en", "cancel-order-es")


# Measured with `desk replies evaluate` (commands in docs/suggestions.md): dev set without history
# 0.883 / 0.975, leave-one-out 0.908 / 0.975 (precision at the threshold 0.908, 0.8% without
# a suggestion). The floors leave room for small changes and catch regressions.
def test_accuracy_floor_without_history():
    figures = evaluate(LIBRARY, CASES)["figures"]
    assert figures["all"]["top1"] >= 0.86 and figures["all"]["top3"] >= 0.96
    assert figures["es"]["top3"] >= 0.95 and figures["en"]["top3"] >= 0.95


def test_accuracy_floor_with_leave_one_out_history():
    figures = evaluate(LIBRARY, CASES, leave_one_out=True)["figures"]
    assert figures["all"]["top1"] >= 0.88 and figures["all"]["top3"] >= 0.96
    assert figures["all"]["precision"] >= 0.88 and figures["all"]["shown"] >= 0.97


# Messages written for this project (not the dev set), with the dev set as history:
# measured 0.932 / 1.000 (no history 0.909 / 1.000).
EXTRA = load_cases("suggestions-extra.jsonl")


def test_accuracy_floor_on_other_messages_with_the_dev_set_as_history():
    figures = evaluate(LIBRARY, EXTRA, history=CASES)["figures"]
    assert figures["all"]["top1"] >= 0.89 and figures["all"]["top3"] >= 0.97
    without = evaluate(LIBRARY, EXTRA)["figures"]
    assert without["all"]["top1"] >= 0.86 and without["all"]["top3"] >= 0.97


# The second dev set (248 messages, committed before any tuning, issue #21) with the dev set
# as history: measured 0.851 / 0.948, es 0.843 / 0.961, en 0.860 / 0.934, precision 0.851 with
# every message shown; 5-fold over it plus the dev set 0.847 / 0.952.
SECOND = load_cases("suggestions-dev2.jsonl")


def test_accuracy_floor_on_the_second_dev_set():
    figures = evaluate(LIBRARY, SECOND, history=CASES)["figures"]
    assert figures["all"]["top1"] >= 0.82 and figures["all"]["top3"] >= 0.93
    assert figures["es"]["top3"] >= 0.92 and figures["en"]["top3"] >= 0.92
    assert figures["all"]["precision"] >= 0.82 and figures["all"]["shown"] >= 0.97
    folds = evaluate(LIBRARY, SECOND, history=CASES, folds=5)["figures"]
    assert folds["all"]["top1"] >= 0.82 and folds["all"]["top3"] >= 0.93
