"""From what someone typed to what the engine compares: cleaned text, content
stems, thesaurus concepts and character trigrams.

Nothing here touches the database or the model, so the evaluation and the
engine share it, and any input (empty, emoji, HTML, control characters, a
280-character word) gives a result in bounded time: the text is cut to
`MAX_CHARS` first and words to `MAX_WORD` characters.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import snowballstemmer

from boards.similarity import thesaurus

# A statement is at most 280 characters; details are not compared.
MAX_CHARS = 300
MAX_WORD = 30

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SPACES = re.compile(r"\s+")

# Function words, and the words every impossible uses to say it is one
# ("impossible", "galère", "on n'arrive pas à", "trouver"): they tell
# nothing about which impossible it is. Compared folded (no accents).
_STOPWORDS = """
    a ai aie aient aies ait as au aux avaient avais avait avec avez aviez avions avoir avons ayant
    c ca car ce ceci cela celle celles celui ces cet cette ceux chaque chez ci comme comment d dans de des
    du elle elles en encore es est et etaient etais etait etant ete etes etre eu eux fait faut il ils j je
    jusqu l la le les leur leurs lui m ma mais me meme memes mes moi mon n ne ni nos notre nous o on ont
    ou par pas peu peut peuvent peux plus pour pourquoi qu quand que quel quelle quelles quels qui quoi
    s sa sans se ses si sien soi soit sommes son sont sous sur t ta te tes toi ton tous tout toute toutes
    tres trop tu un une unes uns vers voila vos votre vous y
    deja depuis donc dont ici ainsi alors apres avant aussi autre autres bien beaucoup deux trois
    fois jamais rien toujours tant tellement vraiment moins tjs tt qq qqn qqch ya cest jai
    impossible impossibles difficile difficiles dur galere galeres probleme problemes souci soucis
    complique compliquee mission arrive arriver arrivons arrivent reussit reussir parvient parvenir
    trouver trouve trouvons trouvent trouvait chercher cherche cherchons cherchent
    faire font fais faisons veut veulent voudrait voudrions vouloir pouvoir peut pourrait doit doivent
    devoir devons sait savons savent savoir besoin besoins aucun aucune personne nul nulle
    vrai grave enorme enormes gros grosse grand grande petit petite petits petites
    chose choses truc trucs gens monde boite boites entreprise entreprises societe
    annee annees an ans mois jour jours semaine semaines temps heure heures fin debut
    passer passe mettre met mis permet permettre venir vient viennent rester reste voir vu vue suis
    succes sans entre idee solution solutions serieux serieuse tellement chaque presque toute tenir
    etc ok svp merci bonjour help pendant durant cause lors
    aller accepter accepte restent complet supplementaire demande demandent projet
    autour devenus devenu humain tard secteur connait connaisse repond repondre repondent reponse
    succes choisir modifier jeter refaire nouvel nouvelle nouvelles usine usines production prod gars
    salarie salaries employe employes ouvrier ouvriers personnel equipe equipes marche marches pme tpe
    lancer creer cree obtenir utiliser commencer demarrer parler parle servir sert voit
    seul seuls seule seules pres depart existant existante
"""
STOPWORDS = frozenset(_STOPWORDS.split())


@functools.cache
def _stemmer():
    return snowballstemmer.stemmer("french")


def fold(text: str) -> str:
    """Lower case, without accents or ligatures: « Élu·e » and « elu.e » meet."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")


def clean(text: str) -> str:
    """What a person reads: control and format characters (bidi overrides,
    zero-width joiners) become spaces, spaces collapse, length is bounded."""
    text = unicodedata.normalize("NFKC", (text or "")[: MAX_CHARS * 2])
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") else ch for ch in text)
    return _SPACES.sub(" ", text).strip()[:MAX_CHARS]


def words(text: str) -> list[str]:
    """Lower-case words of a cleaned text (accents kept for the stemmer)."""
    return [w[:MAX_WORD] for w in _WORD.findall(text.casefold())]


@functools.lru_cache(maxsize=20000)
def stem(word: str) -> str:
    """Snowball's French stem, folded: « embauchés » → « embauch »."""
    if word.isdigit():
        return word
    return fold(_stemmer().stemWord(word))


def is_content(word: str) -> bool:
    folded = fold(word)
    return (
        len(folded) >= 2 and folded not in STOPWORDS and folded not in thesaurus.load().places and not folded.isdigit()
    )


@dataclass(frozen=True)
class Analysis:
    text: str
    stems: frozenset[str]  # content words, stemmed
    concepts: frozenset[str]  # thesaurus concepts the text mentions
    residue: frozenset[str]  # content stems no thesaurus expression covered
    trigrams: frozenset[str]  # character trigrams of the content words


def _trigrams(tokens: list[str]) -> frozenset[str]:
    grams = set()
    for token in tokens:
        padded = f" {token} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def analyse(text: str) -> Analysis:
    cleaned = clean(text)
    tokens = words(cleaned)
    stems = [stem(w) for w in tokens]
    is_word = [is_content(w) for w in tokens]
    concepts, covered = _concepts(stems, is_word)
    return Analysis(
        text=cleaned,
        stems=frozenset(s for s, keep in zip(stems, is_word, strict=True) if keep),
        concepts=frozenset(concepts),
        residue=frozenset(
            s for i, (s, keep) in enumerate(zip(stems, is_word, strict=True)) if keep and i not in covered
        ),
        trigrams=_trigrams([fold(w) for w in tokens if is_content(w)]),
    )


@functools.cache
def _patterns() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Thesaurus expressions as stem sequences, indexed by their first stem."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for concept, expressions in thesaurus.load().concepts.items():
        for expression in expressions:
            pattern = tuple(stem(w) for w in words(expression))
            if pattern:
                index.setdefault(pattern[0], []).append((pattern, concept))
    for entries in index.values():
        entries.sort(key=lambda entry: -len(entry[0]))
    return index


def _concepts(stems: list[str], content: list[bool]) -> tuple[set[str], set[int]]:
    """The concepts found, and the positions of the words they cover.

    Left to right, the longest expression starting at a word wins and its
    words are used up: « aides à domicile » is home care, not also a grant
    (« aides »), and « permis de construire » is not a driving licence.
    """
    index = _patterns()
    found: set[str] = set()
    covered: set[int] = set()
    i = 0
    while i < len(stems):
        for pattern, concept in index.get(stems[i], ()):
            # A one-word expression must be a content word where it is found:
            # « petits » (child care) must not fire on « petite entreprise ».
            if len(pattern) == 1 and not content[i]:
                continue
            if tuple(stems[i : i + len(pattern)]) == pattern:
                found.add(concept)
                covered.update(range(i, i + len(pattern)))
                i += len(pattern)
                break
        else:
            i += 1
    return found, covered


def content_overlap(a: str, b: str) -> int:
    """How many content words two texts share, compared stemmed: the measure
    the evaluation uses to call a paraphrase "low overlap" (≤ 1)."""
    return len(analyse(a).stems & analyse(b).stems)
