"""``herald tags eval`` and ``herald tags train``: measuring the tagger on labelled
announcements and teaching it comms' fixes; ``herald stories tag``: fixing a story's tags
from the command line (kept as a labelled example like a fix in the web app)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli._base import (
    ConfigOpt,
    JsonOpt,
    errors,
    fail,
    out,
    settings_for,
    stories_app,
    with_herald,
)
from bot.tagdata import CORPUS, SPLITS, read_examples, score_taxonomy

tags_app = typer.Typer(help="Measure and teach the tagger.", no_args_is_help=True)
#: Fewer train items and fixes than this teach nothing worth writing.
MIN_EXAMPLES = 10
#: Weights that lose more than this on the dev split are not written without --force.
WORSE = 0.02

SplitOpt = Annotated[str | None, typer.Option(
    "--split", help=f"Only the items of this split ({', '.join(SPLITS)}).")]


@tags_app.command("eval")
def tags_eval(file: Annotated[Path, typer.Argument(help="Labelled JSON Lines (the corpus's "
                                                        "format).")],
              config: ConfigOpt = None, split: SplitOpt = None, as_json: JsonOpt = False,
              using: Annotated[str, typer.Option(
                  "--using", help="combined (as the worker tags), rules or model.")]
              = "combined") -> None:
    """Score the tagger on a labelled file: kinds, domains, confusion matrix."""
    from bot.app import taxonomy_for

    if using not in ("combined", "rules", "model"):
        raise fail("--using must be combined, rules or model", 2)
    settings = settings_for(config)
    with errors():
        taxonomy = taxonomy_for(settings)
        if using != "combined":
            if taxonomy.model is None and using == "model":
                raise fail("no model: [tagging] model is \"off\"", 2)
            taxonomy.policy = using
        examples = read_examples(file, split, kinds=taxonomy.slugs("kind"),
                                 domains=taxonomy.slugs("domain"))
    if not examples:
        raise fail(f"no labelled items in {file}" + (f" (split {split})" if split else ""), 1)
    result = score_taxonomy(examples, taxonomy)
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
        return
    out.print(f"{file}" + (f" (split {split})" if split else "") + f", tagger: {using}",
              markup=False)
    for line in result.lines():
        out.print(line, markup=False)


@tags_app.command("train")
def tags_train(config: ConfigOpt = None,
               corpus: Annotated[Path, typer.Option(
                   "--corpus", help="The labelled corpus (its train split is learned, its "
                                    "dev split reported).")] = CORPUS,
               dest: Annotated[Path | None, typer.Option(
                   "--out", help="Where to write the weights (default <var>/tagger.json, "
                                 "which [tagging] model = \"auto\" uses).")] = None,
               force: Annotated[bool, typer.Option(
                   "--force", help="Write the weights even if the dev split scores worse "
                                   "than the tagger in use.")] = False) -> None:
    """Learn from the corpus and comms' fixes; report the dev split before and after."""
    from bot.pipeline.learned import LearnedTagger
    from bot.tagtrain import FIX_WEIGHT, Labelled, dumps, fit

    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise fail("training needs scikit-learn: pip install 'herald[train]'", 2) from None

    def go(h: Any) -> tuple[Any, Any, int, Path | None]:
        kinds, domains = h.taxonomy.slugs("kind"), h.taxonomy.slugs("domain")
        with errors():
            dev = read_examples(corpus, "dev", kinds=kinds, domains=domains)
            learned = [Labelled(e.id, e.title, e.text, e.kind, e.domains) for e in
                       read_examples(corpus, "train", kinds=kinds, domains=domains)]
        if not dev:
            raise fail(f"{corpus} has no dev split to report on", 2)
        fixes = [Labelled(f"fix-{f['id']:08d}", f["title"], f["text"], f["kind"],
                          frozenset(f["domains"]) if f["domains"] is not None else None,
                          FIX_WEIGHT) for f in h.store.tag_examples()]
        taught = learned + fixes
        if len({e.kind for e in taught if e.kind}) < 2 or len(taught) < MIN_EXAMPLES:
            raise fail(f"too little to learn from: {len(learned)} train items in {corpus} "
                       f"and {len(fixes)} fixes, with {len({e.kind for e in taught})} kinds "
                       f"(at least {MIN_EXAMPLES} items of two kinds)", 2)
        before = score_taxonomy(dev, h.taxonomy)
        model = fit(taught, h.taxonomy)
        after = score_taxonomy(dev, h.taxonomy.with_model(LearnedTagger(model)))
        worse = (after.accuracy < before.accuracy - WORSE
                 or after.macro_f1 < before.macro_f1 - WORSE)
        if worse and not force:
            return before, after, len(fixes), None
        path = dest or h.settings.trained_tagger_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(model), encoding="utf-8")
        return before, after, len(fixes), path

    before, after, fixes, path = with_herald(config, go)
    out.print(f"learned from {corpus} (train split) and {fixes} fixes by comms", markup=False)
    out.print(f"dev split ({after.items} items)   before   after", markup=False)
    out.print(f"kind accuracy              {before.accuracy:6.3f}  {after.accuracy:6.3f}")
    out.print(f"domain macro-F1            {before.macro_f1:6.3f}  {after.macro_f1:6.3f}")
    for d in after.domains:
        out.print(f"  {d:26} {before.domain_prf(d)[2]:6.3f}  {after.domain_prf(d)[2]:6.3f}",
                  markup=False)
    if path is None:
        raise fail("not written: the new weights score worse on the dev split than the "
                   "tagger in use (check the fixes; --force writes them anyway)", 1)
    out.print(f"wrote {path}", markup=False)


@stories_app.command("tag")
def stories_tag(story_id: Annotated[int, typer.Argument(help="The story's id.")],
                config: ConfigOpt = None,
                kind: Annotated[str | None, typer.Option(
                    "--kind", help="Its one kind, e.g. cohort-opening.")] = None,
                domains: Annotated[str | None, typer.Option(
                    "--domains", help="Comma-separated domains.")] = None,
                by: Annotated[str, typer.Option("--by", help="Who is fixing it.")]
                = "cli") -> None:
    """Fix a story's kind and domains (they win; `herald tags train` learns from it)."""
    chosen = [d.strip() for d in (domains or "").split(",") if d.strip()]
    if kind is None and not chosen:
        raise fail("give --kind, --domains or both", 2)
    with_herald(config, lambda h: h.store.set_story_tags(
        story_id, kind=kind, domains=chosen, by=by, ctx=h.routing, now=h.clock.now()))
    out.print(f"story {story_id}: tags set by {by}", markup=False)
