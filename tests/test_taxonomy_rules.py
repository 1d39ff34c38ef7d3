"""The shipped tag rules (bot/data/taxonomy.toml) against realistic academy announcements.

Each case is a (title, text) an academy or NHS leadership team might publish, with the
domains, the one kind and the programmes a comms officer would give it. The engine must give
exactly those, and every tag must say why it was given.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from bot.config import DEFAULT_TAXONOMY
from bot.pipeline.tagging import Taxonomy, load_taxonomy

TAXONOMY_PATH = DEFAULT_TAXONOMY

IE = "individual-effectiveness"
RC = "relationships-connectivity"
II = "innovation-improvement"
LC = "learning-capacity"


class Case(NamedTuple):
    id: str
    title: str
    text: str
    domains: set[str]
    kind: str
    programmes: set[str]


CASES = [
    # --- the seed page's three posts, in other words ---------------------------------------
    Case(
        "seed-cop-story",
        "",
        "Back in spring 2019 we asked talent practitioners across the #NorthWest to form "
        "their own communities of practice: safe places to meet, explore ideas and shape "
        "each other's thinking so local systems work better. Here's how it has gone so far "
        "https://t.co/AbCd1234 #NHSTalent",
        {RC}, "cop-story", set(),
    ),
    Case(
        "seed-seacole-places",
        "",
        "Community pharmacists and pharmacy technicians, this one is for you! With "
        "@cppeengland we have fully-funded #SeacoleProg places to offer. Applications for "
        "the next nine cohorts open on 27 August. More: https://t.co/EfGh5678",
        {LC}, "cohort-opening", {"mary-seacole-programme"},
    ),
    Case(
        "seed-executive-coaching",
        "",
        "Our most senior leaders are facing a great deal of change, and we want to help "
        "them make the most of the opportunities and pressures it brings. Our Executive "
        "Coaching Support is there for you now: https://t.co/IjKl9012",
        {IE}, "coaching-offer", set(),
    ),
    # --- several domains, and none ---------------------------------------------------------
    Case(
        "multi-domain-cop",
        "Improvement community of practice marks its first year",
        "Members from hospital trusts, primary care networks and the voluntary sector have "
        "spent the year testing new ways of working with QI methods, and sharing their "
        "learning with colleagues across the ICS.",
        {RC, II, LC}, "cop-story", set(),
    ),
    Case(
        "four-domains",
        "The four domains of system leadership",
        "Good system leadership rests on four conditions: individual effectiveness; "
        "relationships and connectivity; innovation and improvement; and learning and "
        "capacity building. Here is what each one means for leaders in our region.",
        {IE, RC, II, LC}, "news", set(),
    ),
    Case(
        "office-move",
        "Our Manchester office is moving",
        "From Monday 7 September the academy team will be based at a new address on Oxford "
        "Road. Please send post and deliveries there from that date; phone numbers and "
        "email addresses stay the same.",
        set(), "news", set(),
    ),
    # --- kind priority -----------------------------------------------------------------------
    Case(
        "webinar-that-opens-a-cohort",
        "Nye Bevan Programme information webinar",
        "Thinking about applying? Applications for the autumn cohort open on 14 September. "
        "Join us on Wednesday 2 September at 12:30 to hear from past participants and find "
        "out how to apply.",
        {LC}, "cohort-opening", {"nye-bevan-programme"},
    ),
    Case(
        "network-event-is-an-event",
        "BAME Leadership Network annual conference",
        "The North West BAME Leadership Network invites you to its annual conference on "
        "14 October in Liverpool. Register now to secure your seat.",
        {RC}, "event", set(),
    ),
    Case(
        "webinar-recording-is-a-resource",
        "Missed our webinar on quality improvement in primary care?",
        "The recording and slides are now available to watch on our website.",
        {II, LC}, "resource", set(),
    ),
    # --- cohort openings -----------------------------------------------------------------
    Case(
        "ready-now-applications",
        "Ready Now programme: applications open",
        "Our senior leadership programme for colleagues from Black, Asian and minority "
        "ethnic backgrounds is recruiting. Applications close on 30 September.",
        {LC}, "cohort-opening", {"ready-now"},
    ),
    Case(
        "stepping-up-applications",
        "Stepping Up programme now open for applications",
        "The programme helps aspiring leaders from ethnic minority backgrounds take the next "
        "step in their careers. You can apply until 5 October.",
        {LC}, "cohort-opening", {"stepping-up"},
    ),
    Case(
        "rosalind-franklin-last-chance",
        "Last chance to apply for Rosalind Franklin",
        "Mid-level leaders who want to move into senior roles have until Friday to submit "
        "an application for the next intake.",
        {LC}, "cohort-opening", {"rosalind-franklin-programme"},
    ),
    Case(
        "ega-new-cohort",
        "Elizabeth Garrett Anderson programme: meet the class of 2026",
        "A new cohort of 40 clinical and non-clinical leaders began their MSc in healthcare "
        "leadership this month.",
        {LC}, "cohort-opening", {"elizabeth-garrett-anderson-programme"},
    ),
    Case(
        "edward-jenner-enrol",
        "Begin your leadership journey with Edward Jenner",
        "Free online learning for anyone who is new to leading a team. Enrol today and "
        "study at your own pace.",
        {LC}, "cohort-opening", {"edward-jenner-programme"},
    ),
    Case(
        "digital-leaders-funded-places",
        "25 fully-funded places for digital clinical leaders",
        "Clinicians leading digital transformation in their organisation can join our "
        "digital leadership programme. Apply by 9 October.",
        {II, LC}, "cohort-opening", set(),
    ),
    Case(
        "apprenticeship-eoi",
        "Senior leader apprenticeship: expressions of interest welcome",
        "The Level 7 apprenticeship leads to a master's-level qualification and is paid for "
        "through the apprenticeship levy.",
        {LC}, "cohort-opening", set(),
    ),
    Case(
        "seacole-hashtag-next-cohort",
        "Could you join our next #SeacoleProg cohort?",
        "Hear from past participants about what the programme involved and how it changed "
        "the way they lead.",
        {LC}, "cohort-opening", {"mary-seacole-programme"},
    ),
    # --- coaching offers -----------------------------------------------------------------
    Case(
        "mentoring-scheme",
        "Find a mentor from another organisation",
        "Our mentoring scheme pairs aspiring leaders with an experienced mentor from "
        "elsewhere in the region. Sign up this month to be matched in the autumn.",
        {IE}, "coaching-offer", set(),
    ),
    Case(
        "coaching-for-nurses",
        "Free one-to-one coaching for nurses and midwives",
        "Confidential sessions with a qualified coach can help you manage pressure, build "
        "resilience and think through your next career step.",
        {IE}, "coaching-offer", set(),
    ),
    # --- stories from communities of practice and networks ------------------------------
    Case(
        "network-reflects",
        "News from the BAME Leadership Network",
        "Members met in Liverpool last month to reflect on a year of reverse mentoring and to "
        "agree what they will do next. Read their update on our website.",
        {RC, IE}, "cop-story", set(),
    ),
    Case(
        "staff-network-six-months-on",
        "Our disability staff network, six months on",
        "The co-chairs look back at what the network has achieved, from guidance on "
        "reasonable adjustments to new peer support circles.",
        {RC}, "cop-story", set(),
    ),
    # --- events --------------------------------------------------------------------------
    Case(
        "system-leadership-masterclass",
        "System leadership masterclass: leading across boundaries",
        "Join us on Thursday 17 September, 9.30am to 12.30pm, in Preston for a session with "
        "leaders from across the ICS on working with partners and local communities. Book "
        "your place through the events page.",
        {RC, LC}, "event", set(),
    ),
    Case(
        "inclusive-leadership-webinar",
        "Webinar: compassionate and inclusive leadership",
        "Thursday 24 September, 12:00 to 13:00 on Microsoft Teams. Sign up through "
        "Eventbrite.",
        {LC}, "event", set(),
    ),
    Case(
        "annual-conference-save-the-date",
        "Save the date: our annual conference",
        "The academy's annual conference returns on 3 November in Salford, with keynote "
        "speakers on system working and population health.",
        {RC}, "event", set(),
    ),
    Case(
        "improvement-workshop",
        "Hands-on workshop: improvement methodology for ICS programme leads",
        "Join us on 8 October to practise PDSA cycles and measurement for improvement.",
        {II, LC}, "event", set(),
    ),
    # --- resources -----------------------------------------------------------------------
    Case(
        "talent-conversations-toolkit",
        "New toolkit: talent conversations that work",
        "Our free toolkit gives line managers a short guide, templates and a video to help "
        "them hold good career conversations with their teams. Download it from our website.",
        {IE, LC}, "resource", set(),
    ),
    Case(
        "merger-podcast",
        "Podcast: leading through a merger",
        "In episode 4 two chief executives talk about what they learned when their trusts "
        "joined up, and how they looked after their own resilience along the way.",
        {IE}, "resource", set(),
    ),
    Case(
        "evaluation-report",
        "What three years of leadership development taught us",
        "Our evaluation report, published today, sets out the difference our programmes have "
        "made to participants and to their organisations.",
        {LC}, "resource", set(),
    ),
    Case(
        "conference-slides-hashtags",
        "Slides from #NWLAConf26 are up",
        "Thank you to everyone who came. Slides and session recordings are now available. "
        "#QualityImprovement #Innovation",
        {II}, "resource", set(),
    ),
    # --- vacancies -----------------------------------------------------------------------
    Case(
        "programme-manager-secondment",
        "We're recruiting: senior programme manager",
        "A 12-month secondment at Band 8b to support our system leadership offer. The closing "
        "date is 14 September; the job description is on NHS Jobs.",
        set(), "vacancy", set(),
    ),
    Case(
        "coaching-lead-vacancy",
        "Vacancy: coaching and mentoring lead",
        "Join our team to run the academy's coaching offer across the region. Salary Band 7, "
        "full time, permanent.",
        {IE}, "vacancy", set(),
    ),
    # --- news, and near-misses -------------------------------------------------------------
    Case(
        "stepping-up-ordinary",
        "Trusts stepping up support for staff this winter",
        "Health and care organisations across the region are stepping up their wellbeing "
        "offer as demand rises, with extra rest spaces and hot food for night shifts.",
        {IE}, "news", set(),
    ),
    Case(
        "stepping-up-programme-delivery",
        "Region stepping up programme delivery",
        "Integrated care boards say they are stepping up programme delivery on elective "
        "recovery.",
        {RC}, "news", set(),
    ),
    Case(
        "ready-now-ordinary",
        "Flu vaccines are ready now",
        "Book your jab at the staff clinic on the ground floor; no appointment is needed on "
        "Fridays.",
        set(), "news", set(),
    ),
    Case(
        "ready-now-ordinary-digital",
        "Is your ward ready now for the new patient record?",
        "Our step-by-step guide explains the digital transformation checks every ward should "
        "complete before go-live.",
        {II}, "resource", set(),
    ),
    Case(
        "seacole-awards-not-programme",
        "Nominations open for the Mary Seacole Awards",
        "The awards recognise nurses, midwives and health visitors who improve the health of "
        "people from minority ethnic communities.",
        set(), "news", set(),
    ),
    Case(
        "rosalind-franklin-institute-not-programme",
        "Rosalind Franklin Institute opens new imaging centre",
        "Researchers will study how proteins behave inside living cells.",
        set(), "news", set(),
    ),
    Case(
        "health-coaches-not-leadership",
        "Health coaches help patients in Wigan manage diabetes",
        "People living with type 2 diabetes are being paired with health coaches who work "
        "alongside their GP practice.",
        set(), "news", set(),
    ),
    Case(
        "spreading-virtual-wards",
        "Spreading what works: virtual wards",
        "Five trusts used improvement methodology to test small changes to their virtual "
        "ward model, measured the results and are now spreading the approach.",
        {II}, "news", set(),
    ),
    Case(
        "partnership-with-universities",
        "Academy signs partnership with local universities",
        "The agreement with universities and the voluntary sector will widen access to "
        "leadership development for people working in social care.",
        {RC, LC}, "news", set(),
    ),
    Case(
        "coaching-network-gathers",
        "Coaching network gathers in Bolton",
        "Our coaching network of 120 accredited coaches came together to share what they "
        "have learned this year and to welcome new members.",
        {IE, RC, LC}, "cop-story", set(),
    ),
    Case(
        "compact-mentions-networks",
        "ICS publishes its leadership compact",
        "The compact was co-produced with staff networks, patients and carers.",
        {RC}, "news", set(),
    ),
    Case(
        "third-cohort-welcomed",
        "Aspiring chief executives: welcome to our third cohort",
        "Eighteen directors from across the region started the programme this week.",
        {LC}, "cohort-opening", set(),
    ),
    Case(
        "job-advert-says-apply-now",
        "Apply now: improvement adviser vacancy",
        "Applications close on 30 September. Salary Band 7, 37.5 hours a week.",
        set(), "vacancy", set(),
    ),
    Case(
        "stepping-up-our-programme-ordinary",
        "Support for international recruits",
        "We are stepping up our programme of pastoral support for nurses recruited from "
        "overseas.",
        set(), "news", set(),
    ),
    Case(
        "graduates-congratulations",
        "Congratulations to our #SteppingUp graduates",
        "Twenty-eight colleagues completed the programme this summer; we are proud of every "
        "one of you.",
        {LC}, "news", {"stepping-up"},
    ),
]


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(TAXONOMY_PATH)


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_taxonomy_defines_the_agreed_slugs(taxonomy: Taxonomy) -> None:
    assert set(taxonomy.slugs("domain")) == {IE, RC, II, LC}
    assert taxonomy.slugs("kind") == ["cohort-opening", "coaching-offer", "cop-story", "event",
                                      "resource", "vacancy", "news"]
    assert set(taxonomy.slugs("programme")) == {
        "mary-seacole-programme", "edward-jenner-programme", "rosalind-franklin-programme",
        "elizabeth-garrett-anderson-programme", "nye-bevan-programme", "ready-now",
        "stepping-up"}
    assert taxonomy.fallback_kind == "news"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rules_tag_announcement(taxonomy: Taxonomy, case: Case) -> None:
    result = taxonomy.tag(case.title, case.text)
    domains = {t.slug for t in result.tags if t.group.value == "domain"}
    programmes = {t.slug for t in result.tags if t.group.value == "programme"}
    kinds = [t for t in result.tags if t.group.value == "kind"]
    reasons = "\n".join(f"  {t.group.value} {t.slug}: {t.reason}" for t in result.tags)
    assert domains == case.domains, reasons
    assert result.kind == case.kind, reasons
    assert programmes == case.programmes, reasons
    assert [t.slug for t in kinds] == [case.kind]
    for tag in result.tags:
        assert tag.reason.strip(), f"{tag.group.value} {tag.slug} has no reason"
