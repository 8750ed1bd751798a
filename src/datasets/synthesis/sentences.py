"""A small English grammar over a hand-written vocabulary, for the synthetic speech corpus.

`generate_sentence(rng)` returns a written sentence (lower case, with `,` `.` `?` to guide the
synthesiser's prosody); `transcript()` strips that punctuation. Everything is deterministic
given the `random.Random` passed in.
"""

import random
import re
from collections.abc import Callable, Sequence

MIN_WORDS, MAX_WORDS = 4, 14


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _pairs(text: str) -> dict[str, str]:
    """Parse "base:past base:past ..." into {base: past}."""
    return dict(pair.split(":") for pair in text.split())


PEOPLE = _words("""
    farmer teacher doctor sailor baker driver painter pilot nurse student child neighbor girl
    boy man woman king queen soldier writer singer dancer artist builder fisherman hunter guard
    clerk chef waiter plumber carpenter gardener librarian mechanic captain prince princess
    grandmother grandfather brother sister uncle aunt cousin friend stranger visitor scientist
    musician judge poet tailor merchant shepherd miner engineer lawyer dentist nephew niece baby
""")
ANIMALS = _words("""
    dog cat horse cow sheep goat pig duck goose rabbit fox wolf bear mouse bird owl eagle frog
    snake fish lion tiger monkey deer camel donkey whale turtle spider bee squirrel parrot
    chicken puppy kitten pony zebra giraffe elephant dolphin crow beetle hamster lamb
""")
THINGS = _words("""
    book letter chair table cup bottle box basket hat coat shoe key lamp clock window door ball
    bag knife spoon plate bowl blanket pencil map ticket coin ring rope ladder bucket bicycle
    wagon boat car train bus truck kite drum guitar piano candle mirror picture radio phone
    camera umbrella wallet jacket scarf glove shirt button needle hammer nail brush broom shovel
    net tent sack barrel jar kettle pot pan stone shell feather leaf flower seed branch log brick
    fence gate wheel engine envelope newspaper magazine notebook sweater boot sock belt pillow
    towel bench shelf desk sofa bed carpet curtain bell whistle flag balloon puzzle toy doll
    robot trumpet violin crayon suitcase backpack helmet apron lantern compass telescope globe
    vase teapot
""")
FOODS = _words("""
    apple orange cake pie egg sandwich cookie carrot potato onion tomato banana grape lemon
    cherry peach pear plum melon pumpkin biscuit muffin pancake sausage pizza cucumber
    strawberry loaf
""")
MASS_FOODS = _words("""
    bread cheese butter soup rice milk tea coffee honey sugar salt jam juice flour water
    porridge pasta chocolate lemonade
""")
PLACES = _words("""
    kitchen garden park market school library forest river lake beach mountain village city
    street bridge station harbor farm field hill valley castle church office hospital shop
    bakery museum theater hotel island cave barn yard roof cellar attic hallway classroom
    airport factory bank restaurant playground stadium zoo pond meadow square tower palace
    cottage jungle swamp orchard garage basement porch balcony cafe road tunnel lighthouse
""")
NAMES = _words("""
    anna peter maria james lucy thomas emma daniel sarah michael laura robert olivia david
    sophie george alice henry grace oliver helen samuel rosa victor nina oscar clara felix
    martha leo
""")
ADJECTIVES = _words("""
    big small old young red blue green yellow brown black white gray purple pink happy sad
    tired hungry quiet loud bright dark warm cold wet dry clean dirty heavy light soft hard tall
    short long round sharp strange famous friendly clever brave lazy busy careful gentle angry
    calm proud shy kind rich poor empty full new broken wooden golden silver tiny huge fresh
    sweet sour bitter spicy smooth rough shiny dusty muddy sleepy noisy lucky pretty ugly strong
    weak fast slow early late cheap expensive ancient modern simple plain fancy narrow wide deep
    thin thick curious nervous polite funny serious wild tame cozy crowded lonely hidden frozen
    striped spotted fluffy sticky crispy salty juicy ripe rotten
""")
MANNER_ADVERBS = _words("""
    quickly slowly quietly loudly carefully happily sadly gently suddenly finally proudly calmly
    angrily politely nervously bravely patiently eagerly softly secretly easily
""")
FREQUENCY_ADVERBS = _words("always never often sometimes usually rarely")
INTENSIFIERS = _words("very quite rather really too so")
DAYS = _words("monday tuesday wednesday thursday friday saturday sunday")
MONTHS = _words("""
    january february march april may june july august september october november december
""")
TIME_WORDS = _words("yesterday today tomorrow tonight")
DAY_PARTS = _words("morning afternoon evening")
MEALS = _words("breakfast lunch dinner")

# Verbs as base:past, grouped by the kind of object they take.
FOOD_VERBS = _pairs("""
    eat:ate bake:baked cook:cooked taste:tasted smell:smelled share:shared order:ordered
    slice:sliced peel:peeled wash:washed buy:bought sell:sold pick:picked carry:carried
    drop:dropped hide:hid count:counted weigh:weighed
""")
THING_VERBS = _pairs("""
    take:took bring:brought carry:carried hold:held build:built paint:painted open:opened
    close:closed wash:washed clean:cleaned buy:bought sell:sold find:found drop:dropped
    fix:fixed break:broke borrow:borrowed lend:lent hide:hid keep:kept leave:left forget:forgot
    lose:lost wrap:wrapped mend:mended polish:polished throw:threw kick:kicked push:pushed
    pull:pulled lift:lifted fill:filled empty:emptied pack:packed fold:folded move:moved
    check:checked measure:measured deliver:delivered collect:collected repair:repaired
    decorate:decorated carve:carved shake:shook send:sent choose:chose drag:dragged
    squeeze:squeezed scratch:scratched spill:spilled steal:stole win:won hang:hung sew:sewed
    dig:dug
""")
CREATURE_VERBS = _pairs("""
    see:saw meet:met call:called help:helped teach:taught feed:fed follow:followed
    chase:chased watch:watched visit:visited greet:greeted thank:thanked invite:invited
    wake:woke rescue:rescued protect:protected admire:admired photograph:photographed
    hear:heard miss:missed remember:remembered find:found catch:caught love:loved like:liked
    warn:warned ask:asked tell:told join:joined trust:trusted surprise:surprised
""")
PLACE_VERBS = _pairs("""
    visit:visited leave:left paint:painted clean:cleaned search:searched cross:crossed
    enter:entered explore:explored describe:described draw:drew sweep:swept guard:guarded
""")
INTRANSITIVE_VERBS = _pairs("""
    sleep:slept run:ran walk:walked laugh:laughed cry:cried smile:smiled wait:waited
    dance:danced swim:swam jump:jumped sit:sat stand:stood fall:fell rest:rested work:worked
    shout:shouted whisper:whispered travel:traveled arrive:arrived stay:stayed return:returned
    sing:sang play:played fly:flew hurry:hurried wander:wandered listen:listened snore:snored
    sneeze:sneezed yawn:yawned cough:coughed shiver:shivered kneel:knelt skate:skated
    paddle:paddled argue:argued cheer:cheered clap:clapped relax:relaxed blink:blinked
    nod:nodded float:floated sink:sank glow:glowed hum:hummed
""")

IRREGULAR_PLURALS = _pairs("""
    child:children man:men woman:women mouse:mice sheep:sheep fish:fish goose:geese
    knife:knives leaf:leaves scarf:scarves wolf:wolves loaf:loaves shelf:shelves potato:potatoes
    tomato:tomatoes deer:deer fisherman:fishermen
""")
PLACE_PREPOSITIONS = _words("in near behind outside inside beside by around past toward")
THING_PREPOSITIONS = _words("on under behind beside near in next_to")
DETERMINERS = _words("the a my your his her our their this that")
PLURAL_DETERMINERS = _words("the these those some many several my your our their")
MASS_DETERMINERS = _words("some the my our more no")
SUBJECT_PRONOUNS = {"i": "1sg", "you": "pl", "he": "3sg", "she": "3sg", "we": "pl", "they": "pl"}
OBJECT_PRONOUNS = _words("me you him her us them")
MODALS = _words("will can could should must would")
WH_WORDS = _words("where why when how")
PERIODS = _words("week month year")
UNITS = _words("""
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen
""")
TENS = _words("twenty thirty forty fifty sixty seventy eighty ninety")
CONJUNCTIONS = _words("and but so")
SUBORDINATORS = _words("when after before because while")

# Words that the templates below spell out themselves.
FUNCTION_WORDS = _words("""
    a an and the it them with for on in at to hundred o'clock half past quarter noon midnight
    night last next every after before am is are was were isn't aren't wasn't weren't do does did
    don't doesn't didn't won't can't couldn't shouldn't there there's it's that's i'm you're
    we're they're he's she's who what how many let's please bought sold counted found needed
    wanted carried buy find need
""")


def number_words(n: int) -> list[str]:
    """1..999 spelled out, e.g. 342 -> "three hundred and forty two"."""
    if not 1 <= n <= 999:
        raise ValueError(f"number out of range: {n}")
    hundreds, rest = divmod(n, 100)
    words = [UNITS[hundreds], "hundred"] if hundreds else []
    if hundreds and rest:
        words.append("and")
    if rest >= 20:
        words.append(TENS[rest // 10 - 2])
        rest %= 10
    if rest:
        words.append(UNITS[rest])
    return words


def plural(noun: str) -> str:
    if noun in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def third_person(verb: str) -> str:
    if verb.endswith(("s", "x", "z", "ch", "sh", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# --- phrases: each returns a list of words ---------------------------------------------------

Words = list[str]


def _maybe(rng: random.Random, p: float, make: Callable[[random.Random], Words]) -> Words:
    return make(rng) if rng.random() < p else []


def _adjective(rng: random.Random) -> Words:
    return [rng.choice(ADJECTIVES)]


def _intensified(rng: random.Random) -> Words:
    return [*_maybe(rng, 0.4, lambda r: [r.choice(INTENSIFIERS)]), rng.choice(ADJECTIVES)]


def _count(rng: random.Random) -> Words:
    """A number of things: mostly small, sometimes up to 999."""
    return number_words(rng.randint(2, rng.choice((12, 12, 12, 99, 999))))


def _noun_phrase(rng: random.Random, nouns: Sequence[str], is_plural: bool = False) -> Words:
    """A determiner (or a number), maybe an adjective, and a noun."""
    body = [*_maybe(rng, 0.5, _adjective), rng.choice(nouns)]
    if is_plural:
        determiner = _count(rng) if rng.random() < 0.4 else [rng.choice(PLURAL_DETERMINERS)]
        return [*determiner, *body[:-1], plural(body[-1])]
    determiner = rng.choice(DETERMINERS)
    return [_article(body[0]) if determiner == "a" else determiner, *body]


def _subject(rng: random.Random) -> tuple[Words, str]:
    """A subject and its agreement class: "1sg", "3sg" or "pl"."""
    roll = rng.random()
    if roll < 0.2:
        pronoun = rng.choice(list(SUBJECT_PRONOUNS))
        return [pronoun], SUBJECT_PRONOUNS[pronoun]
    if roll < 0.35:
        return [rng.choice(NAMES)], "3sg"
    is_plural = rng.random() < 0.3
    phrase = _noun_phrase(rng, rng.choice((PEOPLE, ANIMALS)), is_plural)
    return phrase, "pl" if is_plural else "3sg"


def _person(rng: random.Random) -> Words:
    """Someone, as an object: a pronoun, a name or a noun phrase."""
    roll = rng.random()
    if roll < 0.2:
        return [rng.choice(OBJECT_PRONOUNS)]
    if roll < 0.4:
        return [rng.choice(NAMES)]
    return _noun_phrase(rng, rng.choice((PEOPLE, ANIMALS)), rng.random() < 0.3)


def _food(rng: random.Random) -> Words:
    if rng.random() < 0.6:
        return _noun_phrase(rng, FOODS, rng.random() < 0.4)
    determiner = rng.choice(MASS_DETERMINERS)
    return [determiner, *_maybe(rng, 0.4, _adjective), rng.choice(MASS_FOODS)]


def _thing(rng: random.Random) -> Words:
    if rng.random() < 0.1:
        return [rng.choice(("it", "them"))]
    return _noun_phrase(rng, THINGS, rng.random() < 0.3)


def _verb_and_object(rng: random.Random) -> tuple[str, str, Words]:
    """A transitive verb (base form, past form) with an object that suits it."""
    verbs, make_object = rng.choice(OBJECT_KINDS)
    base = rng.choice(list(verbs))
    return base, verbs[base], make_object(rng)


def _place(rng: random.Random) -> Words:
    return [
        rng.choice(PLACE_PREPOSITIONS),
        "the",
        *_maybe(rng, 0.3, _adjective),
        rng.choice(PLACES),
    ]


def _location(rng: random.Random) -> Words:
    """Where: by a place or by an object."""
    if rng.random() < 0.6:
        return _place(rng)
    preposition = rng.choice(THING_PREPOSITIONS)
    return [*preposition.split("_"), "the", rng.choice(THINGS)]


def _companion(rng: random.Random) -> Words:
    """With or for whom: "with her brother", "for anna"."""
    if rng.random() < 0.4:
        return [rng.choice(("with", "for")), rng.choice(NAMES)]
    owner = rng.choice(("my", "your", "his", "her", "our", "their"))
    return [rng.choice(("with", "for")), owner, rng.choice(PEOPLE)]


def _clock(rng: random.Random) -> Words:
    hour = number_words(rng.randint(1, 12))
    roll = rng.randrange(4)
    if roll == 0:
        return [*hour, "o'clock"]
    if roll == 1:
        return ["half", "past", *hour]
    if roll == 2:
        return ["quarter", "past", *hour]
    return [rng.choice(("noon", "midnight"))]


def _time(rng: random.Random) -> Words:
    roll = rng.randrange(7)
    if roll == 0:
        return [rng.choice(TIME_WORDS)]
    if roll == 1:
        return [rng.choice(("last", "next", "every")), rng.choice(PERIODS)]
    if roll == 2:
        return ["on", rng.choice(DAYS)]
    if roll == 3:
        return ["in", rng.choice(MONTHS)]
    if roll == 4:
        return ["in", "the", rng.choice(DAY_PARTS)] if rng.random() < 0.75 else ["at", "night"]
    if roll == 5:
        return [rng.choice(("after", "before")), rng.choice(MEALS)]
    return ["at", *_clock(rng)]


def _adverb(rng: random.Random) -> Words:
    return [rng.choice(MANNER_ADVERBS)]


def _be(person: str, past: bool) -> str:
    if past:
        return "were" if person == "pl" else "was"
    return {"1sg": "am", "3sg": "is", "pl": "are"}[person]


def _present(base: str, person: str) -> str:
    return third_person(base) if person == "3sg" else base


def _intransitive(rng: random.Random) -> tuple[str, str]:
    base = rng.choice(list(INTRANSITIVE_VERBS))
    return base, INTRANSITIVE_VERBS[base]


OBJECT_KINDS: tuple[tuple[dict[str, str], Callable[[random.Random], Words]], ...] = (
    (FOOD_VERBS, _food),
    (THING_VERBS, _thing),
    (THING_VERBS, _thing),
    (CREATURE_VERBS, _person),
    (PLACE_VERBS, lambda rng: _noun_phrase(rng, PLACES, rng.random() < 0.2)),
)

# --- sentence templates: each returns (words, is_question) ----------------------------------

Sentence = tuple[Words, bool]


def _past_action(rng: random.Random) -> Sentence:
    subject, _ = _subject(rng)
    _, past, obj = _verb_and_object(rng)
    words = [*_maybe(rng, 0.2, _time), *subject, past, *obj, *_maybe(rng, 0.3, _location)]
    return words + _maybe(rng, 0.2, _companion) + _maybe(rng, 0.2, _adverb), False


def _past_motion(rng: random.Random) -> Sentence:
    subject, _ = _subject(rng)
    _, past = _intransitive(rng)
    words = [*subject, past, *_maybe(rng, 0.3, _adverb), *_location(rng)]
    return words + _maybe(rng, 0.4, _time), False


def _habit(rng: random.Random) -> Sentence:
    subject, person = _subject(rng)
    frequency = rng.choice(FREQUENCY_ADVERBS)
    if rng.random() < 0.4:
        base, _ = _intransitive(rng)
        return [*subject, frequency, _present(base, person), *_location(rng)], False
    base, _, obj = _verb_and_object(rng)
    tail = ["every", rng.choice((*DAYS, *DAY_PARTS, "night"))] if rng.random() < 0.5 else []
    return [*subject, frequency, _present(base, person), *obj, *tail], False


def _modal(rng: random.Random) -> Sentence:
    subject, _ = _subject(rng)
    base, _, obj = _verb_and_object(rng)
    modal = rng.choice(MODALS)
    words = [*_maybe(rng, 0.3, _time), *subject, modal, base, *obj]
    return words + _maybe(rng, 0.3, _location) + _maybe(rng, 0.2, _companion), False


def _negation(rng: random.Random) -> Sentence:
    subject, person = _subject(rng)
    base, _, obj = _verb_and_object(rng)
    present = "doesn't" if person == "3sg" else "don't"
    negative = rng.choice((present, "didn't", "won't", "can't", "couldn't", "shouldn't"))
    return [*subject, negative, base, *obj, *_maybe(rng, 0.4, _time)], False


def _description(rng: random.Random) -> Sentence:
    subject, person = _subject(rng)
    verb = _be(person, past=rng.random() < 0.5)
    if verb != "am" and rng.random() < 0.2:
        verb += "n't"
    words = [*subject, verb, *_intensified(rng)]
    if rng.random() < 0.3:
        words += ["and", rng.choice(ADJECTIVES)]
    return words + _maybe(rng, 0.3, _time), False


def _existential(rng: random.Random) -> Sentence:
    nouns = rng.choice((THINGS, ANIMALS, FOODS))
    if rng.random() < 0.5:
        body = [*_maybe(rng, 0.5, _adjective), rng.choice(nouns)]
        words = ["there's", _article(body[0]), *body]
    else:
        verb = rng.choice(("are", "were"))
        words = ["there", verb, *_count(rng), plural(rng.choice(nouns))]
    return words + _location(rng), False


def _contraction(rng: random.Random) -> Sentence:
    if rng.random() < 0.5:
        return [rng.choice(("it's", "that's")), *_intensified(rng), *_place(rng)], False
    pronoun = rng.choice(("i'm", "you're", "we're", "they're", "he's", "she's"))
    return [pronoun, *_intensified(rng), *_maybe(rng, 0.7, _time)], False


def _yes_no_question(rng: random.Random) -> Sentence:
    subject, person = _subject(rng)
    base, _, obj = _verb_and_object(rng)
    present = "does" if person == "3sg" else "do"
    auxiliary = rng.choice((present, "did", "will", "can", "could", "should"))
    return [auxiliary, *subject, base, *obj, *_maybe(rng, 0.4, _location)], True


def _wh_question(rng: random.Random) -> Sentence:
    subject, _ = _subject(rng)
    base, past, obj = _verb_and_object(rng)
    roll = rng.randrange(5)
    if roll == 0:
        return ["who", past, *obj, *_maybe(rng, 0.5, _location)], True
    if roll == 1:
        return ["what", "did", *subject, base, *_maybe(rng, 0.6, _time)], True
    if roll == 2:
        noun = plural(rng.choice((*THINGS, *FOODS)))
        return ["how", "many", noun, "did", *subject, rng.choice(("buy", "find", "need"))], True
    if roll == 3:
        verb, _ = _intransitive(rng)
        return [rng.choice(WH_WORDS), "did", *subject, verb, *_maybe(rng, 0.5, _time)], True
    return [rng.choice(WH_WORDS), "will", *subject, base, *obj], True


def _imperative(rng: random.Random) -> Sentence:
    if rng.random() < 0.3:
        verb, _ = _intransitive(rng)
        return ["let's", verb, *_location(rng), *_maybe(rng, 0.4, _time)], False
    base, _, obj = _verb_and_object(rng)
    words = [*(["please"] if rng.random() < 0.5 else []), base, *obj]
    return words + _maybe(rng, 0.5, _location) + _maybe(rng, 0.3, _time), False


def _compound(rng: random.Random) -> Sentence:
    first, _ = _past_action(rng)
    second, _ = _past_motion(rng)
    if rng.random() < 0.5:
        return [*first, ",", rng.choice(CONJUNCTIONS), *second], False
    return [rng.choice(SUBORDINATORS), *second, ",", *first], False


def _counting(rng: random.Random) -> Sentence:
    subject, _ = _subject(rng)
    verb = rng.choice(("bought", "sold", "counted", "found", "needed", "wanted", "carried"))
    noun = plural(rng.choice((*FOODS, *THINGS)))
    words = [*subject, verb, *_count(rng), *_maybe(rng, 0.4, _adjective), noun]
    return words + _maybe(rng, 0.4, _place), False


TEMPLATES: tuple[Callable[[random.Random], Sentence], ...] = (
    _past_action,
    _past_action,
    _past_motion,
    _habit,
    _modal,
    _negation,
    _description,
    _existential,
    _contraction,
    _yes_no_question,
    _wh_question,
    _imperative,
    _compound,
    _counting,
)


def generate_sentence(rng: random.Random) -> str:
    """One sentence of 4-14 words, with punctuation for prosody (see `transcript`)."""
    while True:
        words, question = rng.choice(TEMPLATES)(rng)
        count = sum(word != "," for word in words)
        if MIN_WORDS <= count <= MAX_WORDS:
            return " ".join(words).replace(" ,", ",") + ("?" if question else ".")


def transcript(sentence: str) -> str:
    """The spoken words only: punctuation removed, single spaces."""
    return " ".join(re.sub(r"[,.?!]", " ", sentence).split())


def unique_sentences(rng: random.Random, count: int) -> list[str]:
    """`count` sentences with pairwise distinct transcripts, in generation order."""
    seen: set[str] = set()
    sentences = []
    for _ in range(count * 100):
        if len(sentences) == count:
            break
        sentence = generate_sentence(rng)
        if transcript(sentence) not in seen:
            seen.add(transcript(sentence))
            sentences.append(sentence)
    if len(sentences) < count:
        raise RuntimeError(f"the grammar produced only {len(sentences)} distinct sentences")
    return sentences


def vocabulary() -> frozenset[str]:
    """Every word the grammar can produce, in all its surface forms (plurals, past tenses...)."""
    nouns = (*PEOPLE, *ANIMALS, *THINGS, *FOODS, *PLACES)
    verbs = FOOD_VERBS | THING_VERBS | CREATURE_VERBS | PLACE_VERBS | INTRANSITIVE_VERBS
    word_lists = (
        nouns,
        map(plural, nouns),
        verbs,
        verbs.values(),
        map(third_person, verbs),
        "_".join(THING_PREPOSITIONS).split("_"),
        MASS_FOODS,
        NAMES,
        ADJECTIVES,
        MANNER_ADVERBS,
        FREQUENCY_ADVERBS,
        INTENSIFIERS,
        DAYS,
        MONTHS,
        TIME_WORDS,
        DAY_PARTS,
        MEALS,
        PERIODS,
        PLACE_PREPOSITIONS,
        DETERMINERS,
        PLURAL_DETERMINERS,
        MASS_DETERMINERS,
        SUBJECT_PRONOUNS,
        OBJECT_PRONOUNS,
        MODALS,
        WH_WORDS,
        UNITS[1:],
        TENS,
        CONJUNCTIONS,
        SUBORDINATORS,
        FUNCTION_WORDS,
    )
    return frozenset(word for words in word_lists for word in words)
