"""Country names for the claim checks (`rag.checks`): which countries a word names.

Lower-case words: a country by a word of its name, the last word of its capital
("gifted to Manila" is about the Philippines) and its adjective ("the Japanese
coast guard" is Japan's).
"""

# The countries a fact can be misattributed between (this corpus: Japan, ASEAN, the
# Quad, the Pacific), by a word of their name, and capitals standing for them
# ("gifted to Manila" is about the Philippines): last word of the capital -> country.
CAPITALS = {
    "tokyo": "japan", "lumpur": "malaysia", "manila": "philippines", "dhaka": "bangladesh",
    "suva": "fiji", "jakarta": "indonesia", "hanoi": "vietnam", "bangkok": "thailand",
    "penh": "cambodia", "vientiane": "laos", "naypyidaw": "myanmar", "begawan": "brunei",
    "dili": "timor", "washington": "united", "beijing": "china", "canberra": "australia",
    "delhi": "india", "seoul": "korea", "moresby": "papua", "ulaanbaatar": "mongolia",
    "wellington": "zealand", "taipei": "taiwan", "colombo": "lanka", "islamabad": "pakistan",
}  # fmt: skip
COUNTRIES = {*CAPITALS.values(), "singapore", "palau", "tonga", "samoa", "vanuatu",
             "solomon", "kiribati", "nauru", "tuvalu", "micronesia", "marshall", "maldives",
             "nepal", "djibouti", "ukraine", "russia", "france", "canada", "britain"}  # fmt: skip

# A country's adjective stands for the country: "the Japanese coast guard" is Japan's
# (a question saying "Japanese" was refused for evidence saying "Japan").
DEMONYMS = {
    "japanese": "japan", "malaysian": "malaysia", "filipino": "philippines",
    "bangladeshi": "bangladesh", "fijian": "fiji", "indonesian": "indonesia",
    "vietnamese": "vietnam", "thai": "thailand", "cambodian": "cambodia", "lao": "laos",
    "laotian": "laos", "burmese": "myanmar", "bruneian": "brunei", "singaporean": "singapore",
    "timorese": "timor", "chinese": "china", "australian": "australia", "indian": "india",
    "korean": "korea", "taiwanese": "taiwan", "mongolian": "mongolia", "lankan": "lanka",
    "pakistani": "pakistan", "palauan": "palau", "tongan": "tonga", "samoan": "samoa",
    "nepali": "nepal", "ukrainian": "ukraine", "russian": "russia", "french": "france",
    "canadian": "canada", "british": "britain",
}  # fmt: skip
