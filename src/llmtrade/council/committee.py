"""The weekly committee: every PM pitches, every PM reviews every other pitch, the chairman decides.

Reviews are one call per (reviewer, pitch), all N x (N-1) concurrently. Each reviewer sees the
pitches under its own shuffled letters and never its own pitch; the chairman sees neutral labels.
No model, PM or account name reaches a reviewer or the chairman.

A member's stop (its prompt does not render, the budget is spent) comes back among the failures (MemberStopped):
the weekly stages hand them to pipeline/retry.settle, which keeps the others' answers and raises it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from llmtrade.agents import chairman as chairman_role
from llmtrade.agents import pm as pm_role
from llmtrade.agents import reviewer as reviewer_role
from llmtrade.clock import Clock
from llmtrade.config.models import Chairman, Instrument, PortfolioManager
from llmtrade.council.anonymize import labels_for
from llmtrade.domain.committee import AggregateScore, Decision, Pitch, PitchAnswer, Review
from llmtrade.domain.memory import SetupFlag
from llmtrade.domain.research import ResearchPack
from llmtrade.errors import LlmtradeError
from llmtrade.fanout import gather_settled
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.market.snapshot import priced
from llmtrade.prompts.renderer import PromptRenderer, RenderedPrompt


@dataclass(frozen=True)
class PitchFailure:
    pm: PortfolioManager
    error: LlmtradeError


@dataclass(frozen=True)
class LabelledReview:
    review: Review
    labels: dict[str, str]  # this reviewer's letters -> pitch_id


@dataclass(frozen=True)
class ReviewFailure:
    reviewer: PortfolioManager
    pitch_id: str
    error: LlmtradeError


def anonymous(pitch: Pitch) -> PitchAnswer:
    """The pitch as others see it: what was argued, not who argued it."""
    return PitchAnswer.model_validate(pitch.model_dump(include=set(PitchAnswer.model_fields)))


class Committee:
    def __init__(
        self,
        gateway: LLMGateway,
        prompts: PromptRenderer,
        pms: Sequence[PortfolioManager],
        chairman: Chairman,
        universe: list[Instrument],
        week_id: date,
        run_id: str,
    ):
        self.gateway = gateway
        self.prompts = prompts
        self.pms = list(pms)
        self.chairman = chairman
        self.universe = universe
        self.week_id = week_id
        self.run_id = run_id
        # idea_id -> (the pitch, its anonymous form): one object per pitch for every reviewer and the chairman, so
        # the renderer writes its JSON once (PromptRenderer._json).
        self._shown: dict[str, tuple[Pitch, PitchAnswer]] = {}

    def _anonymous(self, pitch: Pitch) -> PitchAnswer:
        kept = self._shown.get(pitch.idea_id)
        if kept is not None and kept[0] is pitch:
            return kept[1]
        shown = anonymous(pitch)
        self._shown[pitch.idea_id] = (pitch, shown)
        return shown

    async def pitches(
        self,
        packs: list[ResearchPack],
        clock: Clock,
        only: Collection[str] | None = None,
        memory: Mapping[str, Sequence[str]] | None = None,
    ) -> tuple[list[Pitch], list[PitchFailure]]:
        """Every PM's pitch (or only those of the PM ids in `only`: a rerun asks only who has none); `memory`:
        each PM's "Similar past setups" lines by PM id (a PM without any is shown no memory). Each is stamped at
        `clock`'s time once its PM answered: read before asking, every pitch said it was made before any answer."""
        pms = [pm for pm in self.pms if only is None or pm.id in only]
        universe = priced(self.universe, packs[0].snapshot)
        # Every PM shown the same memory lines (recall shows them all the same) is asked the same prompt: rendered once.
        prompts: dict[tuple[str, ...], RenderedPrompt] = {}

        async def one(pm: PortfolioManager) -> Pitch:
            site = CallSite(role=pm_role.ROLE, run_id=self.run_id, week_id=self.week_id, account_id=pm.account)
            lines = tuple((memory or {}).get(pm.id, ()))
            prompt = prompts.get(lines)
            if prompt is None:
                prompt = prompts[lines] = pm_role.pitch_prompt(self.prompts, packs, universe, self.week_id, lines)
            answer = await pm_role.pitch(self.gateway, prompt, pm, packs, universe, site)
            return Pitch(
                **answer.model_dump(),
                idea_id=f"{self.week_id}:{pm.id}",
                week_id=self.week_id,
                model=pm.model,
                pm_id=pm.id,
                account_id=pm.account,
                timestamp=clock.now(),
            )

        answered, failed = await gather_settled(pms, [one(pm) for pm in pms], hold_on_stop=True)
        return [pitch for _, pitch in answered], [PitchFailure(pm, error) for pm, error in failed]

    async def reviews(
        self, pitches: list[Pitch], packs: list[ResearchPack], only: Collection[str] | None = None
    ) -> tuple[list[LabelledReview], list[ReviewFailure]]:
        """Every review of every other PM's pitch (or only those whose review_id is in `only`)."""
        jobs = [job for job in self._review_jobs(pitches) if only is None or review_id(job[0], job[1]) in only]

        async def one(reviewer: PortfolioManager, pitch: Pitch, label: str, labels: dict[str, str]) -> LabelledReview:
            site = CallSite(
                role=reviewer_role.ROLE, run_id=self.run_id, week_id=self.week_id, account_id=reviewer.account
            )
            answer = await reviewer_role.review(
                self.gateway, self.prompts, reviewer, label, self._anonymous(pitch), packs, site
            )
            review = Review(
                **answer.model_dump(),
                review_id=review_id(reviewer, pitch),
                pitch_id=pitch.idea_id,
                reviewer_model=reviewer.model,
                reviewer_pm_id=reviewer.id,
                anonymized_pitch_id=label,
            )
            return LabelledReview(review, labels)

        answered, failed = await gather_settled(jobs, [one(*job) for job in jobs], hold_on_stop=True)
        return (
            [review for _, review in answered],
            [ReviewFailure(reviewer, pitch.idea_id, error) for (reviewer, pitch, _, _), error in failed],
        )

    def review_ids(self, pitches: list[Pitch]) -> list[str]:
        """The id of every review the committee asks for these pitches, in the order it asks them."""
        return [review_id(reviewer, pitch) for reviewer, pitch, _, _ in self._review_jobs(pitches)]

    def _review_jobs(self, pitches: list[Pitch]) -> list[tuple[PortfolioManager, Pitch, str, dict[str, str]]]:
        by_pm = {p.pm_id: p for p in pitches}
        jobs: list[tuple[PortfolioManager, Pitch, str, dict[str, str]]] = []
        for reviewer in self.pms:
            if reviewer.id not in by_pm:
                continue  # a PM whose pitch failed does not review: its model is misbehaving this week
            others = [p.idea_id for p in pitches if p.pm_id != reviewer.id]
            labels = {
                f"Pitch {k}": v for k, v in labels_for(others, reader=reviewer.id, salt=str(self.week_id)).items()
            }
            for label, idea_id in labels.items():
                jobs.append((reviewer, next(p for p in pitches if p.idea_id == idea_id), label, labels))
        return jobs

    async def decide(
        self,
        pitches: list[Pitch],
        reviews: list[Review],
        scores: list[AggregateScore],
        packs: list[ResearchPack],
        clock: Clock,
        flags: Sequence[SetupFlag] = (),
    ) -> tuple[Decision, dict[str, str]]:
        """The chairman's decision and its neutral labels; `flags` (the validator's) are shown under the
        flagged pitch's neutral label, never its PM. Stamped at `clock`'s time once the chairman answered."""
        order = labels_for([p.idea_id for p in pitches], reader="chairman", salt=str(self.week_id))
        neutral = {f"Pitch {i}": idea_id for i, idea_id in enumerate(order.values(), start=1)}
        label_of = {idea_id: label for label, idea_id in neutral.items()}
        shown = {
            label: self._anonymous(next(p for p in pitches if p.idea_id == idea)) for label, idea in neutral.items()
        }
        by_label: dict[str, list[Review]] = {label: [] for label in neutral}
        for review in reviews:
            by_label[label_of[review.pitch_id]].append(review)
        ranked = [(label_of[s.pitch_id], s) for s in scores]
        site = CallSite(
            role=chairman_role.ROLE, run_id=self.run_id, week_id=self.week_id, account_id=self.chairman.account
        )
        notes = [(label_of[flag.idea_id], flag.note) for flag in flags if flag.idea_id in label_of]
        answer = await chairman_role.decide(
            self.gateway,
            self.prompts,
            self.chairman,
            shown,
            by_label,
            ranked,
            packs,
            priced(self.universe, packs[0].snapshot),
            self.week_id,
            site,
            flags=sorted(notes),
        )
        decision = Decision(
            **answer.model_dump(),
            decision_id=f"{self.week_id}:chairman",
            week_id=self.week_id,
            model=self.chairman.model,
            account_id=self.chairman.account,
            timestamp=clock.now(),
        )
        return decision, neutral


def review_id(reviewer: PortfolioManager, pitch: Pitch) -> str:
    return f"{pitch.idea_id}:by:{reviewer.id}"


def aggregate_scores(pitches: list[Pitch], reviews: list[Review]) -> list[AggregateScore]:
    """Mean of every score every reviewer gave each pitch; rank 1 is best."""
    rows = []
    for pitch in pitches:
        mine = [r.scores.mean() for r in reviews if r.pitch_id == pitch.idea_id]
        mean = sum(mine) / len(mine) if mine else 0.0
        rows.append((mean, pitch))
    rows.sort(key=lambda row: (-row[0], row[1].pm_id))
    return [
        AggregateScore(
            pitch_id=p.idea_id,
            pm_id=p.pm_id,
            mean_score=round(mean, 4),
            reviews=sum(1 for r in reviews if r.pitch_id == p.idea_id),
            rank=i,
        )
        for i, (mean, p) in enumerate(rows, start=1)
    ]
