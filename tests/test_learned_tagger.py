"""The learned tagger: its features, its pure-Python scoring against scikit-learn's own
(the oracle), how it combines with the rules, reasons a person can read, and a person's
fix winning over both.

The training texts here are a handful of our own sentences: enough to teach a model the
difference between a cohort call, an event and a job, not a measure of anything.
"""

from __future__ import annotations

import json
import math

import pytest

from bot.model import Tag, TagGroup
from bot.pipeline.learned import RULE_WEIGHT, LearnedTagger, features, stem
from bot.pipeline.story import compose
from bot.pipeline.tagging import load_taxonomy
from tests.builders import item
from tests.conftest import CONFIG_DIR

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is in the test extras")

from bot.tagtrain import Labelled, fit  # noqa: E402

IE, RC, II, LC = ("individual-effectiveness", "relationships-connectivity",
                  "innovation-improvement", "learning-capacity")

TRAIN = [
    ("Places on the spring cohort", "Apply for a funded place on our leadership programme; "
     "the cohort starts in March and places are limited.", "cohort-opening", {LC}),
    ("New intake for ward leaders", "We are recruiting the next intake of our development "
     "programme for ward managers. Nominations close soon.", "cohort-opening", {LC}),
    ("Cohort four is open", "Register your interest in cohort four of the programme for "
     "first-line managers; places are funded.", "cohort-opening", {LC}),
    ("Bring your team to the summer conference", "A day of talks and workshops at the city "
     "hall, with lunch. Book a seat for the conference now.", "event", set()),
    ("Webinar on leading through change", "Join the live webinar on Tuesday afternoon. "
     "Book your seat; the session will be recorded.", "event", {LC}),
    ("Masterclass for new chairs", "An evening masterclass for board chairs: book a place "
     "at the workshop in the town hall.", "event", {LC}),
    ("We are hiring a programme lead", "Job: programme lead, band 8a, fixed term. The "
     "post closes at the end of the month; apply through the jobs site.", "vacancy", set()),
    ("Secondment: improvement advisor", "A secondment opportunity for an improvement "
     "advisor to join the team for twelve months. Salary on request.", "vacancy", {II}),
    ("Vacancy: events coordinator", "We have a vacancy for an events coordinator; the job "
     "is full time and the salary band is 5.", "vacancy", set()),
    ("Coaching for senior leaders", "One-to-one coaching sessions are offered to senior "
     "leaders; request a coach through the form.", "coaching-offer", {IE}),
    ("Mentors for new managers", "Ask for a mentor: new managers can be matched with an "
     "experienced mentor for six months of mentoring.", "coaching-offer", {IE}),
    ("Team coaching now available", "Teams can now ask for team coaching from our pool of "
     "accredited coaches.", "coaching-offer", {IE}),
    ("What our network learned this year", "Members of the practitioners' network shared "
     "how partnership work across the county changed services.", "cop-story", {RC}),
    ("Community of practice update", "The community of practice met to share what worked "
     "when councils and hospitals planned care together.", "cop-story", {RC}),
    ("Stories from the alumni network", "Alumni of the network tell how working across "
     "organisations helped their communities.", "cop-story", {RC}),
    ("A toolkit for testing ideas", "Download the toolkit: a guide to running small tests "
     "of change and spreading what works.", "resource", {II}),
    ("Podcast: trying new ways of working", "Listen to the podcast episode on redesigning "
     "a service with staff and patients.", "resource", {II, RC}),
    ("A guide for new leaders", "Our new guide and workbook help leaders plan their own "
     "development and wellbeing.", "resource", {IE, LC}),
    ("The office moves in May", "Our team moves to a new building in May; the phone "
     "numbers stay the same.", "news", set()),
    ("Board appoints a new chair", "The board has appointed a new chair, who starts in the "
     "autumn.", "news", set()),
    ("Annual report published", "The annual accounts and board papers are now published "
     "on our website.", "news", set()),
]


def labelled() -> list[Labelled]:
    return [Labelled(f"t{n:02d}", title, text, kind, frozenset(domains))
            for n, (title, text, kind, domains) in enumerate(TRAIN)]


@pytest.fixture(scope="module")
def model() -> LearnedTagger:
    return LearnedTagger(fit(labelled(), load_taxonomy(CONFIG_DIR / "taxonomy.toml")))


def test_features_are_word_stems_title_stems_and_the_rules_that_fired() -> None:
    f = features("Apply now", "Places on the programmes close on 7 September.",
                 ["kind:cohort-opening"])
    assert {"apply", "t:apply", "place", "programme", "septemb"} <= set(f)
    assert "the" not in f and "on" not in f and "<n>" not in f  # stop words, numbers
    assert f["rule:kind:cohort-opening"] == RULE_WEIGHT
    words = [v for k, v in f.items() if not k.startswith("rule:")]
    assert math.isclose(sum(v * v for v in words), 1.0)
    assert features("", "") == {}
    assert stem("programmes") == stem("programme") == "programme"
    assert stem("coaching") == "coach" and stem("news") == "news"  # four letters stay


def test_pure_python_scores_equal_scikit_learns(model: LearnedTagger) -> None:
    """The oracle: the worker's arithmetic gives scikit-learn's probabilities (to the
    rounding of the weights file)."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    from bot.tagtrain import KIND_C

    rules = load_taxonomy(CONFIG_DIR / "taxonomy.toml")
    rows = labelled()
    vec = DictVectorizer(sort=True)
    x = vec.fit_transform([features(r.title, r.text, rules.fired(r.title, r.text))
                           for r in rows])
    ref = LogisticRegression(C=KIND_C, max_iter=5000, class_weight="balanced")
    ref.fit(x, [r.kind for r in rows])
    for title, text in [("Book a place at the masterclass", "An evening workshop."),
                        ("Mentoring offer", "Ask for a mentor."), ("", "Nothing in common")]:
        fired = rules.fired(title, text)
        probs = dict(zip(ref.classes_, ref.predict_proba(vec.transform(
            [features(title, text, fired)]))[0], strict=True))
        mine = model.predict(title, text, fired)
        assert mine.kind.slug == max(probs, key=lambda k: probs[k])
        assert mine.kind.probability == pytest.approx(probs[mine.kind.slug], abs=0.01)


def test_learned_path_reads_what_a_text_is_about(model: LearnedTagger) -> None:
    rules = load_taxonomy(CONFIG_DIR / "taxonomy.toml").with_model(model)
    rules.policy = "model"
    result = rules.tag("Funded places for the autumn cohort",
                       "The next cohort of our programme is recruiting; places are limited.")
    assert result.kind == "cohort-opening"
    kind = result.tags[0]
    assert "model: " in kind.reason and "'cohort'" in kind.reason
    assert "(p 0." in kind.reason


def test_rules_path_alone_is_unchanged_without_a_model() -> None:
    rules = load_taxonomy(CONFIG_DIR / "taxonomy.toml")
    assert rules.model is None
    result = rules.tag("Applications open", "Applications open on 27 August for the Mary "
                       "Seacole Programme.")
    assert result.kind == "cohort-opening"
    assert "model" not in result.tags[0].reason


def test_a_decisive_rule_wins_over_the_model(model: LearnedTagger, tmp_path) -> None:
    """Comms mark a rule decisive: when it fires, its tag is given whatever the model says.
    Without the mark, the model (which read that the rule fired) decides."""
    title, text = "Office move", "The team moves to the new building on the harbour in May."
    assert load_taxonomy(CONFIG_DIR / "taxonomy.toml").with_model(model).tag(
        title, text).kind != "vacancy"
    # A small taxonomy of our own: a kind rule first in file order that also fires, then a
    # decisive kind (it wins all the same) and a decisive domain.
    small = tmp_path / "taxonomy.toml"
    small.write_text(
        '[[tag]]\ngroup = "kind"\nslug = "coaching-offer"\n'
        'rules = [ { match = ["team"] } ]\n'
        '[[tag]]\ngroup = "kind"\nslug = "vacancy"\ndecisive = true\n'
        'rules = [ { match = ["harbour"] } ]\n'
        '[[tag]]\ngroup = "kind"\nslug = "news"\nfallback = true\n'
        '[[tag]]\ngroup = "domain"\nslug = "relationships-connectivity"\n'
        'rules = [ { match = ["harbour"] } ]\ndecisive = true\n', encoding="utf-8")
    rules = load_taxonomy(small).with_model(model)
    result = rules.tag(title, text)
    assert result.kind == "vacancy" and "'harbour'" in result.tags[0].reason
    assert RC in [t.slug for t in result.tags if t.group is TagGroup.DOMAIN]
    rules.policy = "model"
    assert rules.tag(title, text).kind != "vacancy"


def test_decisive_must_be_true_or_false(tmp_path) -> None:
    from bot.errors import ConfigError

    bad = tmp_path / "taxonomy.toml"
    bad.write_text('[[tag]]\ngroup = "kind"\nslug = "news"\nfallback = true\n'
                   'decisive = "yes"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="decisive"):
        load_taxonomy(bad)


def test_the_shipped_tagger_says_why_in_words_a_person_reads() -> None:
    """With the bundled weights, a tag both the rule and the model give names both: the
    rule's words and the model's (the rule that fired, words as the text spells them)."""
    from bot.pipeline.learned import load_tagger

    rules = load_taxonomy(CONFIG_DIR / "taxonomy.toml").with_model(load_tagger())
    result = rules.tag("QI collaborative", "Our quality improvement collaborative used PDSA "
                       "cycles on two wards to test changes and spread what worked.")
    domain = next(t for t in result.tags if t.slug == II)
    assert "'quality improvement'" in domain.reason
    assert "model: " in domain.reason and "the innovation-improvement rule" in domain.reason
    assert "'improvement'" in domain.reason  # a stem shown as the text spells it


def test_a_person_s_fix_wins_over_rules_and_model(model: LearnedTagger) -> None:
    rules = load_taxonomy(CONFIG_DIR / "taxonomy.toml").with_model(model)
    story = [item(1, title="Funded places for the autumn cohort",
                  text="The next cohort of our programme is recruiting; places are limited.")]
    assert compose(story, rules).kind == "cohort-opening"
    fixed = compose(story, rules, [Tag(TagGroup.KIND, "news", "set by ann@example.org", True),
                                   Tag(TagGroup.DOMAIN, RC, "set by ann@example.org", True)])
    assert fixed.kind == "news"
    assert [t.slug for t in fixed.tags if t.group is TagGroup.DOMAIN] == [RC]


def test_weights_file_of_another_format_is_refused_naming_the_file(tmp_path) -> None:
    from bot.errors import ConfigError
    from bot.pipeline.learned import load_tagger

    bad = tmp_path / "tagger.json"
    bad.write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(ConfigError, match="tagger"):
        load_tagger(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_tagger(tmp_path / "missing.json")
    good = {"format": 1, "kind": {"classes": ["news", "event"], "bias": [0, 0]},
            "domain": {"classes": ["learning-capacity"], "bias": [0], "threshold": [0.5]},
            "weights": {"cohort": [1, 0, 0.5]}}
    for broken, says in [({"weights": {"cohort": [1, 0]}}, "one weight per kind"),
                         ({"weights": {"cohort": [1, 0, "x"]}}, "a number within"),
                         ({"weights": {"cohort": [1, 0, 1e308]}}, "a number within"),
                         ({"weights": {}}, "no weights"),
                         ({"kind": {"classes": ["news", "event"], "bias": [0]}}, "one bias"),
                         ({"kind": {"classes": [], "bias": []}}, "no kinds")]:
        bad.write_text(json.dumps({**good, **broken}).replace('"x"', "NaN"), encoding="utf-8")
        with pytest.raises(ConfigError, match=says):
            load_tagger(bad)
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_tagger(bad)
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match="JSON object"):
        load_tagger(bad)
    bad.write_text("[" * 200_000, encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_tagger(bad)
    with pytest.raises(ConfigError, match="not a file"):
        load_tagger(tmp_path)
