"""A synthetic query log with known groups, for the editors' report: written for the tests, not taken from any output.

Five drugs with pages in data/, eight things visitors ask that drug pages do not say, each asked
many ways: templates of different wording, greetings and sign-offs, brand names instead of the
drug's name, upper and lower case, a typo now and then. Every question carries its true group
(drug, intent), so a test can tell whether the report put one group's questions together.
"""

from __future__ import annotations

import random

DRUGS = {
    "warfarin": ["warfarin", "Warfarin", "coumadin", "Jantoven"],
    "metformin": ["metformin", "Metformin", "glucophage", "metformin hydrochloride"],
    "sertraline": ["sertraline", "Sertraline", "zoloft", "Lustral"],
    "lisinopril": ["lisinopril", "Lisinopril", "zestril", "Prinivil"],
    "ibuprofen": ["ibuprofen", "Ibuprofen", "advil", "Nurofen"],
}

INTENTS = {
    "looks": [
        "what does {d} look like", "what colour is the {d} tablet", "{d} pill color", "how can I recognise a {d} tablet",
        "what shape are {d} tablets", "is {d} a white pill", "{d} tablet appearance", "what do {d} pills look like",
        "what markings are on {d} tablets", "help me identify a {d} pill",
    ],
    "price": [
        "how much does {d} cost", "{d} price", "is {d} expensive", "what is the price of {d}", "{d} cost without insurance",
        "how much is a month of {d}", "does insurance pay for {d}", "how much do {d} tablets cost at the pharmacy",
        "is there a cheaper version of {d}", "what will I pay for {d}",
    ],
    "pronounce": [
        "how do you pronounce {d}", "how to say {d}", "{d} pronunciation", "how is {d} pronounced",
        "what is the right way to say {d}", "correct pronunciation of {d}", "how do I say the word {d}",
        "say {d} phonetically", "is it pronounced {d} with a hard sound",
    ],
    "flying": [
        "can I take {d} on a plane", "flying with {d} in hand luggage", "can I pack {d} in my carry on",
        "do I need a doctor's letter to fly with {d}", "taking {d} through airport security", "bring {d} on a flight abroad",
        "is {d} allowed on planes", "travelling by air with my {d}",
    ],
    "expired": [
        "is expired {d} safe", "{d} shelf life", "can I take {d} past its expiry date", "does {d} go off",
        "how long does {d} keep after the expiration date", "old {d} tablets still good", "{d} expired last month can I use it",
        "does out of date {d} still work",
    ],
    "exercise": [
        "can I exercise while taking {d}", "is it ok to go running on {d}", "{d} and working out at the gym",
        "going to the gym on {d}", "can I play football while on {d}", "is it safe to do sport when taking {d}",
        "{d} and lifting weights", "marathon training on {d}",
    ],
    "hair": [
        "does {d} make your hair fall out", "{d} hair loss", "losing hair on {d}", "can {d} cause thinning hair",
        "is balding a side effect of {d}", "my hair is falling out since starting {d}", "{d} and hair thinning",
        "will {d} make me go bald",
    ],
    "online": [
        "can I buy {d} online", "{d} without a prescription", "order {d} on the internet", "where can I buy {d} online",
        "is {d} sold over the counter", "do I need a prescription for {d}", "get {d} from an online pharmacy",
        "{d} online shop",
    ],
}

OPENERS = ["", "", "", "hi, ", "hello ", "quick question: ", "please tell me ", "sorry if this is silly but "]
CLOSERS = ["", "", "?", "?", " please", " thanks", "??", " thank you"]


def _typo(text: str, rng: random.Random) -> str:
    """Swap two neighbouring letters of one longer word, as hurried typing does."""
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) > 5 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def synthetic_questions(per_group: int = 50, seed: int = 15) -> list[tuple[str, str, str]]:
    """(question, doc_id, intent) for every drug and intent, per_group of each: 5 x 8 x 50 = 2,000 by default."""
    rng = random.Random(seed)
    out = []
    for doc_id, names in DRUGS.items():
        for intent, templates in INTENTS.items():
            for n in range(per_group):
                text = templates[n % len(templates)].format(d=rng.choice(names))
                text = rng.choice(OPENERS) + text + rng.choice(CLOSERS)
                if rng.random() < 0.15:
                    text = _typo(text, rng)
                if rng.random() < 0.2:
                    text = text.capitalize()
                out.append((text, doc_id, intent))
    rng.shuffle(out)
    return out
