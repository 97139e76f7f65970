"""A small Spanish/English guess from common words, for tickets' language (no model)."""
import re

_ES = set("el la los las de del que y en un una por para con no es mi me mis pero qué cómo "
          "dónde cuándo hola gracias pedido está estoy tengo ayuda favor porque muy ya también "
          "nada todavía hoy ayer llegó envío cuenta".split())
_EN = set("the a an and is are was to of in my me i you your for with not no but what how "
          "where when hello hi thanks thank order please help still yet today yesterday "
          "arrived shipping account it this that have has".split())


def guess_language(text_value: str) -> str | None:
    """"es" or "en" from common words (accents count for Spanish); None when unsure."""
    words = re.findall(r"[a-záéíóúñü]+", (text_value or "").lower())
    spanish = sum(w in _ES for w in words) + sum(1 for c in text_value or "" if c in "ñ¿¡áéíóú")
    english = sum(w in _EN for w in words)
    if spanish >= 2 and spanish > english * 1.5:
        return "es"
    if english >= 2 and english > spanish * 1.5:
        return "en"
    return None
