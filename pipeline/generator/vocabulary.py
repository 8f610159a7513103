"""Word lists the synthetic population is drawn from.

Kept as Python data (not CSV) so they ship with the package without package-data rules.
Weights are rough relative frequencies: what matters for linkage is that common names
repeat (many SMITHs, several John Smiths) and rare ones do not.
"""

from __future__ import annotations

from faker.providers.person.en_GB import Provider as FakerPersonGB
from faker.providers.person.en_US import Provider as FakerPersonUS


# Surnames by origin, with relative weights (England & Wales frequency order for "uk").
def _uk_surnames() -> dict[str, float]:
    """Faker's en_GB surname table (weights are % of people: Smith 1.15) plus names it lacks.

    The table covers 40% of people; the other 60% get rarer names: Faker's en_US surnames
    that en_GB lacks (by US frequency) and made-up toponymic names (Ashworth, Kirkby...).
    """
    table = dict(FakerPersonGB.last_names)
    table.update({"Choudhury": 0.03, "Nguyen": 0.02, "Chen": 0.03, "Okafor": 0.02,
                  "Mensah": 0.02, "Nwosu": 0.01, "MacKenzie": 0.04})
    rest = 100.0 - sum(table.values())
    us = [k for k in list(FakerPersonUS.last_names)[150:] if k not in table and not k.endswith("ez")]
    tail = [a + b for a in _TAIL_PREFIXES for b in _TAIL_SUFFIXES if a + b not in table]
    return {
        **table,
        **{name: rest * 0.25 / len(us) for name in us},
        **{name: rest * 0.75 / len(tail) for name in tail},
    }


_TAIL_PREFIXES = (
    "Ash", "Black", "Brad", "Brom", "Cal", "Chat", "Cross", "Dal", "Ed", "Fair", "Fen", "Gold",
    "Green", "Hal", "Hart", "Ing", "Kirk", "Lang", "Mar", "Nor", "Old", "Pen", "Ram", "Ribble",
    "Roth", "Shel", "Stan", "Thorn", "Wal", "Wen", "Whit", "Wood", "Ayles", "Bing", "Coul",
    "Dun", "Elm", "Hay", "Mort", "Swin", "Al", "Bar", "Bel", "Bir", "Brack", "Bram", "Brent",
    "Brig", "Carl", "Chil", "Clay", "Cot", "Craw", "Dar", "Eld", "Farn", "Fel", "Gar", "Gil",
    "Hack", "Ham", "Heath", "Hol", "Horn", "Hux", "Kel", "Ken", "Kings", "Lam", "Lid", "Lin",
    "Lock", "Lyn", "Mel", "Mid", "Mos", "Orm", "Pad", "Pick", "Pres", "Red", "Rid", "Rock",
    "Rush", "Sal", "Sand", "Scar", "Shap", "Sil", "Stain", "Stock", "Sun", "Tat", "Tod", "Wad",
    "War", "Weather", "Wil", "Win", "Wyc",
)
_TAIL_SUFFIXES = (
    "worth", "ley", "ton", "field", "ford", "by", "ham", "well", "wood", "ridge", "thorpe",
    "dale", "hurst", "croft", "stead", "wick", "shaw", "gate", "more", "den", "combe", "bury",
    "cliffe", "hope",
)

SURNAMES: dict[str, dict[str, float]] = {
    "uk": _uk_surnames(),
    "ie": {
        "O'Brien": 8, "O'Neill": 7, "O'Sullivan": 6, "O'Connor": 6, "Murphy": 6, "Byrne": 5,
        "McCarthy": 5, "Doyle": 4, "Gallagher": 4, "Ó Ceallaigh": 1, "Ní Bhriain": 1,
        "Fitzgerald": 3, "Quinn": 3, "Nolan": 3,
    },
    "pl": {
        "Nowak": 8, "Wójcik": 6, "Kowalczyk": 6, "Mazur": 5, "Krawczyk": 5, "Zając": 4,
        "Król": 4, "Wróbel": 4, "Pawlak": 3, "Michalak": 3, "Sikora": 3, "Łuczak": 3, "Duda": 3,
    },
    "es": {
        "García": 6, "Fernández": 5, "Rodríguez": 5, "González": 5, "Pérez": 4, "Gonçalves": 3,
        "Araújo": 3, "Martínez": 4, "Sánchez": 3, "Ferreira": 3,
    },
    "fr": {"Lefèvre": 3, "Dubois": 4, "Moreau": 4, "Girard": 3, "Bérenger": 2, "Rousseau": 3},
}

# First names by origin, sex and generation ("old": born before 1995, "young": after).
FIRST_NAMES: dict[tuple[str, str, str], dict[str, float]] = {
    ("uk", "M", "old"): {
        "David": 30, "John": 30, "Paul": 22, "Michael": 22, "Andrew": 20, "Mark": 20,
        "Stephen": 18, "Peter": 16, "Robert": 16, "James": 16, "Richard": 15, "Christopher": 15,
        "William": 14, "Ian": 12, "Gary": 12, "Anthony": 11, "Thomas": 10, "Simon": 10,
        "Daniel": 10, "Kevin": 10, "Steven": 9, "Matthew": 9, "Martin": 9, "Lee": 8,
        "Jason": 8, "Darren": 8, "Neil": 7, "Craig": 7, "Wayne": 7, "Dean": 6, "Philip": 6,
        "Nicholas": 6, "Graham": 5, "Keith": 5, "Brian": 5, "Alan": 5, "Colin": 4,
        "Mohammed": 5, "Imran": 3, "Rajesh": 2,
    },
    ("uk", "F", "old"): {
        "Sarah": 25, "Susan": 20, "Elizabeth": 18, "Margaret": 16, "Karen": 16, "Julie": 16,
        "Lisa": 15, "Claire": 15, "Nicola": 14, "Helen": 14, "Joanne": 14, "Emma": 13,
        "Michelle": 13, "Katherine": 12, "Rebecca": 12, "Victoria": 11, "Samantha": 11,
        "Louise": 11, "Rachel": 10, "Jennifer": 10, "Amanda": 10, "Tracey": 9, "Dawn": 8,
        "Patricia": 8, "Mary": 8, "Linda": 8, "Gemma": 8, "Kelly": 8, "Stacey": 6, "Zoë": 3,
        "Anne": 6, "Catherine": 6, "Jane": 6, "Deborah": 5, "Fatima": 4, "Nasreen": 2,
    },
    ("uk", "M", "young"): {
        "Oliver": 20, "Jack": 20, "Harry": 18, "Jacob": 15, "Charlie": 15, "Thomas": 14,
        "George": 14, "James": 14, "William": 12, "Joshua": 12, "Noah": 12, "Alfie": 11,
        "Samuel": 11, "Daniel": 10, "Ethan": 10, "Leo": 10, "Oscar": 9, "Archie": 9,
        "Benjamin": 9, "Joseph": 9, "Logan": 8, "Mason": 8, "Lewis": 8, "Tyler": 8,
        "Liam": 7, "Callum": 7, "Riley": 7, "Kai": 6, "Jayden": 6, "Muhammad": 8, "Ryan": 6,
        "Dylan": 6, "Max": 6, "Alexander": 6, "Henry": 5, "Freddie": 5, "Michael": 4,
    },
    ("uk", "F", "young"): {
        "Olivia": 20, "Amelia": 20, "Isla": 15, "Ava": 15, "Emily": 15, "Sophie": 14,
        "Grace": 13, "Lily": 13, "Mia": 12, "Ella": 12, "Jessica": 12, "Chloe": 12,
        "Isabella": 11, "Poppy": 10, "Evie": 10, "Charlotte": 10, "Ruby": 10, "Freya": 9,
        "Sophia": 9, "Daisy": 8, "Holly": 8, "Lucy": 8, "Megan": 8, "Zoë": 4, "Abigail": 6,
        "Eleanor": 6, "Hannah": 7, "Katie": 5, "Amira": 4, "Aisha": 5, "Maisie": 5,
        "Samantha": 3, "Elizabeth": 4, "Rebecca": 3, "Lauren": 5, "Caitlin": 4,
    },
    ("ie", "M", "old"): {
        "Seán": 5, "Patrick": 5, "Pádraig": 3, "Ciarán": 3, "Declan": 3, "Conor": 3,
        "Michael": 4, "Eoin": 2,
    },
    ("ie", "F", "old"): {
        "Siobhán": 5, "Mary": 4, "Sinéad": 4, "Orla": 3, "Bridget": 3, "Máire": 2, "Aoife": 2,
    },
    ("ie", "M", "young"): {"Cian": 4, "Oisín": 3, "Seán": 4, "Conor": 4, "Jack": 4, "Darragh": 3},
    ("ie", "F", "young"): {"Aoife": 4, "Niamh": 4, "Caoimhe": 3, "Róisín": 3, "Saoirse": 3},
    ("pl", "M", "old"): {
        "Łukasz": 5, "Bartłomiej": 3, "Paweł": 4, "Michał": 4, "Piotr": 5, "Krzysztof": 4,
        "Tomasz": 4, "Wojciech": 3, "Marek": 3,
    },
    ("pl", "F", "old"): {
        "Małgorzata": 4, "Agnieszka": 5, "Katarzyna": 5, "Anna": 5, "Joanna": 4, "Ewa": 3,
        "Magdalena": 4,
    },
    ("pl", "M", "young"): {"Jakub": 5, "Kacper": 4, "Szymon": 4, "Łukasz": 2, "Filip": 4},
    ("pl", "F", "young"): {"Zofia": 5, "Zuzanna": 4, "Julia": 5, "Maja": 4, "Lena": 3},
    ("es", "M", "old"): {"José": 6, "João": 3, "Andrés": 3, "Ramón": 2, "Sebastián": 2, "Carlos": 4},
    ("es", "F", "old"): {"María": 6, "Inês": 3, "Lucía": 3, "Ana": 4, "Beatriz": 2, "Sofía": 2},
    ("es", "M", "young"): {"Mateo": 4, "José": 3, "Tomás": 3, "Hugo": 3, "Martín": 3},
    ("es", "F", "young"): {"Lucía": 4, "Sofía": 4, "Valentina": 3, "María": 3, "Inês": 2},
    ("fr", "M", "old"): {"Jérôme": 3, "François": 3, "Noël": 2, "Loïc": 2, "Pierre": 3},
    ("fr", "F", "old"): {"Hélène": 3, "Amélie": 3, "Chloé": 3, "Noémie": 2, "Françoise": 2},
    ("fr", "M", "young"): {"Théo": 3, "Noé": 2, "Raphaël": 3, "Léo": 3},
    ("fr", "F", "young"): {"Chloé": 4, "Zoé": 3, "Léa": 3, "Noémie": 2, "Anaïs": 2},
}



def _with_tail(head: dict[str, float], tail: tuple[str, ...], share: float = 0.3) -> dict[str, float]:
    """Add Faker's en_GB first names (ordered by popularity) as a Zipf tail holding ``share``."""
    extra = [name for name in tail if name not in head]
    zipf = [1.0 / (rank + 10) for rank in range(len(extra))]
    scale = share / (1 - share) * sum(head.values()) / sum(zipf)
    return {**head, **{name: w * scale for name, w in zip(extra, zipf, strict=True)}}


for _sex, _tail in (("M", FakerPersonGB.first_names_male), ("F", FakerPersonGB.first_names_female)):
    for _generation in ("old", "young"):
        FIRST_NAMES["uk", _sex, _generation] = _with_tail(FIRST_NAMES["uk", _sex, _generation], _tail)

# Share of households by name origin (keys of SURNAMES).
ORIGINS: dict[str, float] = {"uk": 0.93, "ie": 0.025, "pl": 0.025, "es": 0.012, "fr": 0.008}

# Formal name -> informal forms a clerk might type instead.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Will", "Billy"), "Robert": ("Bob", "Rob", "Bobby"),
    "Elizabeth": ("Liz", "Beth", "Lizzie"), "Katherine": ("Kate", "Katie", "Kathy"),
    "Catherine": ("Cath", "Cathy", "Kate"), "Michael": ("Mike", "Mick"),
    "James": ("Jim", "Jimmy", "Jamie"), "Thomas": ("Tom", "Tommy"), "Samantha": ("Sam",),
    "Samuel": ("Sam", "Sammy"), "David": ("Dave",), "Christopher": ("Chris",),
    "Stephen": ("Steve",), "Steven": ("Steve",), "Andrew": ("Andy", "Drew"),
    "Anthony": ("Tony",), "Daniel": ("Dan", "Danny"), "Matthew": ("Matt",),
    "Nicholas": ("Nick",), "Joanne": ("Jo",), "Rebecca": ("Becky", "Becca"),
    "Victoria": ("Vicky", "Tori"), "Jennifer": ("Jen", "Jenny"), "Susan": ("Sue", "Susie"),
    "Patricia": ("Pat", "Trish"), "Margaret": ("Maggie", "Peggy"), "Alexander": ("Alex",),
    "Charlotte": ("Charlie", "Lottie"), "Eleanor": ("Ellie",), "Joshua": ("Josh",),
    "Benjamin": ("Ben",), "Jacob": ("Jake",), "Henry": ("Harry",), "John": ("Jack", "Johnny"),
    "Oliver": ("Olly",), "Isabella": ("Izzy", "Bella"), "Amelia": ("Millie",),
    "Abigail": ("Abbie",), "Joseph": ("Joe",), "Richard": ("Rich", "Dick"), "Peter": ("Pete",),
    "Philip": ("Phil",), "Deborah": ("Debbie",), "Amanda": ("Mandy",), "Nicola": ("Nicky",),
    "Michelle": ("Shell",), "Gemma": ("Gem",), "Patrick": ("Paddy",), "Mohammed": ("Mo",),
    "Muhammad": ("Mo",), "Jessica": ("Jess",), "Alfie": ("Alf",), "Frederick": ("Fred",),
}

STREET_STEMS: tuple[str, ...] = (
    "Church", "Mill", "Station", "Victoria", "Queen's", "King's", "Park", "High", "Oak", "Elm",
    "Ash", "Beech", "Birch", "Cedar", "Willow", "Chestnut", "Hawthorn", "Rowan", "Holly", "Maple",
    "Meadow", "Field", "Brook", "River", "Bridge", "Castle", "Abbey", "Chapel", "School", "Market",
    "North", "South", "East", "West", "New", "Green", "Hill", "Valley", "Orchard", "Garden",
    "Manor", "Grange", "Priory", "Albert", "Alexandra", "George", "York", "Windsor", "Stanley",
    "Cromwell", "Nelson", "Wellington", "Marlborough", "Clarence", "Princess", "Crown", "Regent",
    "Cemetery", "Forge", "Tannery", "Foundry", "Colliery", "Quarry", "Railway", "Canal", "Wharf",
    "Dale", "Moor", "Heather", "Fern", "Primrose", "Bluebell", "Laburnum", "Lilac", "Poplar",
    "Sycamore", "Lime", "Hazel", "Alder", "Juniper", "Larch", "Pine", "Spruce", "Woodland",
    "Forest", "Lark", "Swallow", "Kingfisher", "Heron", "Falcon", "Wren", "Robin", "Thrush",
    "Lindisfarne", "Bamburgh", "Alnwick", "Durham", "Tyne", "Wear", "Derwent", "Tees",
    "Coronation", "Jubilee", "Carnegie", "Gladstone", "Disraeli", "Shakespeare", "Milton",
    "Chaucer", "Wordsworth", "Byron", "Shelley", "Keats", "Tennyson", "Dickens", "Brontë",
    "Hardy", "Austen", "Stephenson", "Brunel", "Telford", "Faraday", "Newton", "Darwin",
)
STREET_SUFFIXES: dict[str, float] = {
    "Road": 22, "Street": 20, "Avenue": 9, "Lane": 8, "Close": 8, "Drive": 7, "Crescent": 5,
    "Grove": 5, "Way": 5, "Terrace": 5, "Gardens": 4, "Place": 3, "Court": 2, "View": 2,
    "Walk": 2, "Rise": 1,
}
# Abbreviations police officers type in free-text addresses.
STREET_ABBREVIATIONS: dict[str, str] = {
    "Road": "Rd", "Street": "St", "Avenue": "Ave", "Lane": "Ln", "Close": "Cl", "Drive": "Dr",
    "Crescent": "Cres", "Gardens": "Gdns", "Terrace": "Terr", "Place": "Pl", "Court": "Ct",
}

# Fictional towns; each gets its own postcode districts in POSTCODE_AREAS.
TOWNS: tuple[str, ...] = (
    "Hallbridge", "Eastmoor", "Blackwater", "Fenwick", "Low Sowerby", "Kirkhaven",
    "Aldthorpe", "Stainford", "Wexcombe", "Marden Bay",
)
POSTCODE_AREAS: tuple[str, ...] = ("NE", "DH", "SR", "TS")
# Letters allowed in the inward unit of a UK postcode.
POSTCODE_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

OFFENCES: dict[str, str] = {
    "105/01": "Common assault",
    "008/06": "Assault occasioning actual bodily harm",
    "028/01": "Burglary (dwelling)",
    "046/00": "Theft from shop",
    "049/07": "Theft (other)",
    "048/00": "Taking a vehicle without consent",
    "058/01": "Criminal damage to a dwelling",
    "092/16": "Possession of cannabis",
    "010/01": "Possession of an offensive weapon",
    "125/12": "Public order offence",
    "008/10": "Harassment",
}
DOMESTIC_OFFENCES: tuple[str, ...] = ("105/01", "008/06", "008/10", "058/01")
