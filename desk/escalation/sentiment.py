"""Negativity of customer text by a small Spanish and English lexicon (offline, no model).

Text is lower-cased and stripped of accents; a negation ("no", "not", "nunca", "never"...)
flips the polarity of the next few words ("no funciona" is negative, "not bad" is not);
emoji count too. `score` < 0 means negative.
"""
import re
import unicodedata
from functools import lru_cache

NEGATIVE_WORDS = """
    malo mala malos malas pesimo pesima horrible horribles fatal terrible desastre desastroso
    desastrosa verguenza vergonzoso vergonzosa asco asqueroso asquerosa estafa estafadores
    estafador timo timadores fraude enganan engano enganado enganada mentira mentirosos
    roto rota rotos rotas defectuoso defectuosa defectuosos estropeado estropeada averiado
    averiada queja quejas reclamacion reclamo denuncia indignado indignada indignante
    harto harta hartos cabreado cabreada enfadado enfadada furioso furiosa odio lamentable
    inaceptable inadmisible intoxicado intoxicada intoxicacion enfermo enferma peligroso
    peligrosa retraso retrasos retrasado tarde nunca jamas devolucion reembolso robo robado
    robada cancelar cancelado basura peor decepcion decepcionado decepcionada decepcionante
    problema problemas fallo fallos falla error errores caido caida abusivo abuso ridiculo
    incompetentes incompetente nefasto nefasta deplorable insoportable cutre timado timada
    bad awful terrible horrible worst worse disgusting disgrace shameful shame scam scammers
    fraud fraudulent fake lie lies liars lied broken broke defective faulty damaged complaint
    complain complaining angry furious outraged outrage hate hated unacceptable ridiculous
    pathetic useless poisoned poisoning sick dangerous unsafe late delay delayed never refund
    stolen stole steal cancel cancelled canceled garbage trash rubbish disappointed
    disappointing disappointment problem problems issue issues fail failed failure failing
    error errors down outage crash crashed crashes rude incompetent nightmare joke sucks
    annoyed annoying frustrated frustrating boycott lawsuit
"""
POSITIVE_WORDS = """
    bueno buena buenos buenas genial geniales excelente excelentes perfecto perfecta
    encanta encantan encantado encantada maravilla maravilloso maravillosa gracias
    fantastico fantastica increible feliz contento contenta rapido rapida recomiendo
    recomendable amable amables mejor mejores estupendo estupenda top guay chulo chula
    good great excellent perfect love loved lovely amazing awesome fantastic wonderful thanks
    thank happy glad fast quick recommend recommended kind helpful best nice brilliant
    delicious delicioso deliciosa rico rica
"""
NEGATIONS = {"no", "not", "ni", "nunca", "jamas", "never", "sin", "without", "nada", "nothing",
             "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "cant", "cannot", "wont",
             "n't", "tampoco", "nor", "ningun", "ninguna", "neither"}
# Words that are negative on their own but usually describe the brand's failure even after a
# negation ("nunca llega", "never arrived"): the negation does not flip them.
NEGATION_PROOF = {"nunca", "jamas", "never"}
NEGATIVE_EMOJI = set("😡🤬👎😠💩😤😞😢😭🤮🤢😒😫😩💔🙄😖😣")
POSITIVE_EMOJI = set("😀😃😄😁😊😍🥰😘👍❤💖💯🎉🙌👏🤩😎🙏✨⭐")
NEGATIVE_PHRASES = ("no funciona", "no llega", "no ha llegado", "no me llega", "no responden",
                    "no contestan", "no sirve", "doesnt work", "does not work", "not working",
                    "never arrived", "no response", "not received", "never received",
                    "nadie responde", "nadie contesta", "no one answers", "nobody answers")

_NEG = set(NEGATIVE_WORDS.split())
_POS = set(POSITIVE_WORDS.split())
_WORD = re.compile(r"[a-z0-9ñ']+|[^\sa-z0-9ñ']", re.UNICODE)
NEGATION_SPAN = 3
_CLAUSE_END = set(",.;:!?¡¿")


@lru_cache(maxsize=4096)  # pure; every inbound message is normalised by several rules
def normalize(text: str) -> str:
    """Lower-case, accents stripped (ñ kept), apostrophes folded, spaces collapsed."""
    text = unicodedata.normalize("NFKD", (text or "").lower().replace("ñ", "\0"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).replace("\0", "ñ")
    text = text.replace("’", "'").replace("n't", "nt")
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Words of the normalised text, plus each emoji as its own token."""
    return [t for t in _WORD.findall(normalize(text)) if t.strip() and (t[0].isalnum() or _is_emoji(t))]


def _is_emoji(token: str) -> bool:
    return token in NEGATIVE_EMOJI or token in POSITIVE_EMOJI or ord(token[0]) >= 0x2600


@lru_cache(maxsize=1024)  # pure; the escalation and crisis rules both score each message
def score(text: str) -> float:
    """Polarity: negative below zero, positive above; about -1 per negative word."""
    words = tokens(text)
    total, flip_left = 0.0, 0
    for word in _WORD.findall(normalize(text)):
        if word in _CLAUSE_END:
            flip_left = 0  # a negation does not reach past the end of its clause
            continue
        if not word.strip() or not (word[0].isalnum() or _is_emoji(word)):
            continue
        if word in NEGATIONS:
            total += -0.5 if word in NEGATION_PROOF else 0.0
            flip_left = NEGATION_SPAN
            continue
        value = 0.0
        if word in _NEG or word in NEGATIVE_EMOJI:
            value = -1.0
        elif word in _POS or word in POSITIVE_EMOJI:
            value = 1.0
        if flip_left and value and word not in NEGATIVE_EMOJI | POSITIVE_EMOJI:
            # "no es malo" / "not bad" is mild praise; "no es bueno" / "not good" is negative.
            value = 0.5 if value < 0 else -1.0
        total += value
        flip_left = max(flip_left - 1, 0)
    joined = " ".join(words)
    total -= sum(1.0 for phrase in NEGATIVE_PHRASES if phrase in joined)
    return total


def is_negative(text: str, threshold: float = -1.0) -> bool:
    """True when the text reads as a complaint (score at or below `threshold`)."""
    return score(text) <= threshold
