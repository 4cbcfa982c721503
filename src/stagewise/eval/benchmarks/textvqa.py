"""TextVQA (val): VQA accuracy over the 10 human answers, with the official answer normalization.

Official scorer (the TextVQA challenge's evaluator, facebookresearch/mmf `mmf/utils/m4c_evaluators.py`:
`EvalAIAnswerProcessor` + `TextVQAAccuracyEvaluator`): the response and every human answer are normalized
(lower case; "," and "?" dropped; "'s" split off; punctuation removed or made a blank depending on the blanks
around it; periods not followed by a digit dropped, at most 32 of them; number words zero..ten as digits;
articles a/an/the dropped; contractions restored); a response's score is the mean over the 10 leave-one-out
subsets of min(1, matches among the other 9 / 3). The row must carry exactly 10 answers (the official code
asserts it). The prompt is LLaVA's and VLMEvalKit's ("Answer the question using a single word or phrase.").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.eval.benchmarks.common import Generation, base_dir, image_ref, need, numbered, read_records

HUB_ID, SPLIT = "lmms-lab/textvqa", "validation"
MODES = ("official",)
SUBSETS: tuple[str, ...] = ()
OFFICIAL_EXTRACT, HARNESS_EXTRACT = "raw", "chain"
PREDICTION_FIELDS: tuple[str, ...] = ()
GENERATION = Generation()
judge = None  # no LLM-judge path: the official scorer is a rule
INSTRUCTION = "Answer the question using a single word or phrase."

# The official normalization's tables (facts of the evaluator, kept in this layout): contractions written
# without their apostrophes -> the written form; the key "somebody'd" -> "somebodyd" is the evaluator's own.
_CONTRACTIONS_TEXT = """
aint=ain't arent=aren't cant=can't couldve=could've couldnt=couldn't couldn'tve=couldn't've
couldnt've=couldn't've didnt=didn't doesnt=doesn't dont=don't hadnt=hadn't hadnt've=hadn't've
hadn'tve=hadn't've hasnt=hasn't havent=haven't hed=he'd hed've=he'd've he'dve=he'd've hes=he's
howd=how'd howll=how'll hows=how's Id've=I'd've I'dve=I'd've Im=I'm Ive=I've isnt=isn't itd=it'd
itd've=it'd've it'dve=it'd've itll=it'll let's=let's maam=ma'am mightnt=mightn't
mightnt've=mightn't've mightn'tve=mightn't've mightve=might've mustnt=mustn't mustve=must've
neednt=needn't notve=not've oclock=o'clock oughtnt=oughtn't ow's'at='ow's'at 'ows'at='ow's'at
'ow'sat='ow's'at shant=shan't shed've=she'd've she'dve=she'd've she's=she's shouldve=should've
shouldnt=shouldn't shouldnt've=shouldn't've shouldn'tve=shouldn't've somebody'd=somebodyd
somebodyd've=somebody'd've somebody'dve=somebody'd've somebodyll=somebody'll somebodys=somebody's
someoned=someone'd someoned've=someone'd've someone'dve=someone'd've someonell=someone'll
someones=someone's somethingd=something'd somethingd've=something'd've something'dve=something'd've
somethingll=something'll thats=that's thered=there'd thered've=there'd've there'dve=there'd've
therere=there're theres=there's theyd=they'd theyd've=they'd've they'dve=they'd've theyll=they'll
theyre=they're theyve=they've twas='twas wasnt=wasn't wed've=we'd've we'dve=we'd've weve=we've
werent=weren't whatll=what'll whatre=what're whats=what's whatve=what've whens=when's whered=where'd
wheres=where's whereve=where've whod=who'd whod've=who'd've who'dve=who'd've wholl=who'll whos=who's
whove=who've whyll=why'll whyre=why're whys=why's wont=won't wouldve=would've wouldnt=wouldn't
wouldnt've=wouldn't've wouldn'tve=wouldn't've yall=y'all yall'll=y'all'll y'allll=y'all'll
yall'd've=y'all'd've y'alld've=y'all'd've y'all'dve=y'all'd've youd=you'd youd've=you'd've
you'dve=you'd've youll=you'll youre=you're youve=you've
"""
CONTRACTIONS = dict(pair.split("=", 1) for pair in _CONTRACTIONS_TEXT.split())
NUMBERS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
NUMBERS["none"] = "0"
ARTICLES = ("a", "an", "the")
PUNCTUATION = ';/[]"{}()=+\\_-><@`,?!'
_PERIOD = re.compile(r"\.(?!\d)")
_DIGIT_COMMA = re.compile(r"(?<=\d),+(?=\d)")
_MAX_PERIODS = 32  # the evaluator passes re.UNICODE (32) as `count` to re.sub: at most 32 periods go


def normalize(answer: str) -> str:
    """The official answer normalization (EvalAI's, as the TextVQA evaluator applies it)."""
    text = answer.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    out = text
    for (
        p
    ) in PUNCTUATION:  # a mark next to a blank (or any digit comma) goes; one inside a word becomes a blank
        gone = p + " " in text or " " + p in text or _DIGIT_COMMA.search(text) is not None
        out = out.replace(p, "" if gone else " ")
    out = _PERIOD.sub("", out, count=_MAX_PERIODS)
    words = [NUMBERS.get(w, w) for w in out.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def answer_scores(answers: list[str]) -> dict[str, float]:
    """Normalized answer -> its VQA score against the 10 human answers (mean over leave-one-out subsets)."""
    norm = [normalize(a) for a in answers]
    scores = {}
    for candidate in set(norm):
        matches = norm.count(candidate)
        # leaving out a matching answer leaves matches-1 of them among the other nine, else all matches
        per_subset = [min(1.0, (matches - (a == candidate)) / 3) for a in norm]
        scores[candidate] = sum(per_subset) / len(per_subset)
    return scores


def load(
    source: str | Path = HUB_ID,
    limit: int | None = None,
    images: str | Path | None = None,
    subset: str | None = None,
) -> list[dict]:
    """Rows of the hub layout (`question_id`, `question`, `answers`, `image`) or the authors' JSON
    (TextVQA_0.5.1_val.json: {"data": [...]} with `image_id`, images at <images>/<image_id>.jpg)."""
    path = Path(str(source))
    if path.suffix == ".json" and path.exists():
        data = json.loads(path.read_text())
        recs = data["data"] if isinstance(data, dict) and "data" in data else read_records(path)
    else:
        recs = read_records(source, split=SPLIT, limit=limit)
    base = base_dir(source, images)
    rows = []
    for i, r, where in numbered(recs, limit, source):
        answers = need(r, "answers", where, (list,))
        if len(answers) != 10 or not all(isinstance(a, str) for a in answers):
            raise DataError(f"{where}: field 'answers' must hold the 10 human answers (has {len(answers)})")
        image = r.get("image")
        if image is None and r.get("image_id"):
            image = f"{r['image_id']}.jpg"
        rows.append(
            {
                "id": str(r.get("question_id", i)),
                "question": need(r, "question", where),
                "answers": answers,
                "answer": max(answer_scores(answers).items(), key=lambda kv: kv[1])[0],
                "images": [x for x in [image_ref(image, base)] if x is not None],
            }
        )
    return rows


def prompt(row: dict) -> str:
    return f"{row['question']}\n{INSTRUCTION}"


def extract(text: str, row: dict, mode: str = "official") -> str:
    return text


def score(extracted, row: dict, mode: str = "official") -> dict:
    value = answer_scores(row["answers"]).get(normalize("" if extracted is None else str(extracted)), 0.0)
    return {"correct": value > 0, "vqa_score": value}


def metrics(rows: list[dict], results: list[dict], mode: str = "official") -> dict:
    n = len(results)
    total = sum(float(r.get("vqa_score", 0.0)) for r in results)
    return {
        "vqa_accuracy": {
            "accuracy": 100.0 * total / n if n else 0.0,
            "total": n,
            "exact": sum(float(r.get("vqa_score", 0.0)) >= 1.0 for r in results),
        },
    }
