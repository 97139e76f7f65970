"""Text addressed to a customer whose name is not known: the name's place is dropped with the
comma or space that led to it, so "¡Hola {name}!" reads "¡Hola!" and "Hi {name}, thanks"
reads "Hi, thanks": a neutral greeting in the message's own language, never a platform id."""
import re


def without_name(text: str, marker: str) -> str:
    """`text` with every `marker` (where the name would go) taken out, tidily."""
    if marker not in text:
        return text
    quoted = re.escape(marker)
    # At the start of a sentence: "{name}, your order..." -> "Your order...".
    def capitalise(match):
        rest = match.group(2)
        return match.group(1) + rest[:1].upper() + rest[1:]
    text = re.sub(r"(^|[.!?]\s+)" + quoted + r"[ \t]*,?[ \t]*(\S?)", capitalise, text, flags=re.M)
    # "Gracias, {name}." / "Hola {name}!" -> "Gracias." / "Hola!": the lead-in goes with it.
    text = re.sub(r"[ \t]*,?[ \t]*" + quoted + r"(?=[ \t]*[,.!?;:)»¡¿]|[ \t]*$)", "", text,
                  flags=re.M)
    # Anywhere else (mid-sentence): just the marker and one space.
    text = re.sub(r"[ \t]?" + quoted, "", text)
    return re.sub(r"[ \t]{2,}", " ", text)
