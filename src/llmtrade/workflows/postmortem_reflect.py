"""The postmortem's reflect stage: each owner's short reflection on its account's week, asked in parallel.

Contract: reads the gathered drafts (workflows/postmortem_stages.py DRAFTS), writes REFLECTIONS (account -> the
owner's answer, None when it failed or nobody owns a trade). The reflections are stored once on the week's
reflections stream before anything else, so a rerun after a crash never asks an owner twice. An owner whose call
failed for a temporary reason is retried by reruns until the postmortem's deadline (pipeline/retry.py): before it
the stage stops with exit 75 and keeps the reflections it got, after it the reflection is stored as missing, with
InputsMissing naming the account. Once the postmortem is written, the stage loads the reflections it holds.
"""

from __future__ import annotations

from llmtrade.agents import postmortem_writer
from llmtrade.domain.checkpoints import PostmortemAnswer, PostmortemReflected
from llmtrade.domain.events import EventPayload
from llmtrade.domain.streams import postmortem_reflections_stream
from llmtrade.errors import LlmtradeError
from llmtrade.fanout import gather_settled
from llmtrade.llm.gateway import CallSite
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.frozen import once
from llmtrade.pipeline.retry import asked_with, settle
from llmtrade.workflows.postmortem_stages import DRAFTS, REFLECTIONS, Draft, written
from llmtrade.workflows.workbench import Workbench


class ReflectStage:
    name = "reflect"
    reads = (DRAFTS,)
    writes = (REFLECTIONS,)
    overlaps = False

    def __init__(self, bench: Workbench):
        self.bench = bench

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench = self.bench
        stored = written(bench)
        if stored is not None:
            return context.with_value(REFLECTIONS, {pm.account_id: pm.reflection for pm in stored}).with_loaded(
                self.name
            )
        drafts = [d for d in context.get(DRAFTS) if d.frozen is not None]

        by_account = {d.postmortem.account_id: d for d in drafts}

        async def ask(keys: list[str]) -> tuple[dict[str, PostmortemReflected], dict[str, LlmtradeError]]:
            # A template failing is that reflection's failure, not a stop: a stopped postmortem held the next weekly
            # run back, and with it the week's trading (a review).
            answered, failed = await gather_settled(
                keys, [self._reflect(by_account[key]) for key in keys], prompt_fails_one=True, hold_on_stop=True
            )
            reflected = {a: PostmortemReflected(account_id=a, reflection=answer) for a, answer in answered}
            return reflected, dict(failed)

        async def build() -> list[EventPayload]:
            settled = await settle(
                bench.events,
                stage=self.name,
                stream=postmortem_reflections_stream(bench.week_id),
                keys=list(by_account),
                answer_type=PostmortemReflected,
                ask=ask,
                window=bench.window,
                week_id=bench.week_id,
                run_id=bench.run_id,
                account_of=lambda key: key,
                basis=lambda: asked_with(
                    bench.prompts.fingerprint(),
                    [d.frozen.owner for d in drafts if d.frozen],
                    bench.gateway.provider_settings(),
                ),
            )
            late = " (still unavailable at the deadline)"
            return [
                *settled.answers.values(),
                *(
                    PostmortemReflected(account_id=a, reflection=None, error=str(error))
                    for a, error in settled.failed.items()
                ),
                *(
                    PostmortemReflected(account_id=a, reflection=None, error=f"{error}{late}")
                    for a, error in settled.missing.items()
                ),
                *settled.inputs_missing(self.name),
            ]

        events, built = await once(
            bench.events,
            postmortem_reflections_stream(bench.week_id),
            build,
            week_id=bench.week_id,
            run_id=bench.run_id,
            account_of=lambda p: getattr(p, "account_id", None),
        )
        reflected = [PostmortemReflected.from_event(e) for e in events if e.type == PostmortemReflected.event_type()]
        result = context.with_value(REFLECTIONS, {r.account_id: r.reflection for r in reflected})
        return result if built else result.with_loaded(self.name)

    async def _reflect(self, draft: Draft) -> PostmortemAnswer:
        bench, pm, frozen = self.bench, draft.postmortem, draft.frozen
        assert frozen is not None  # only owned trades are reflected on
        site = CallSite(
            role=postmortem_writer.ROLE, run_id=bench.run_id, week_id=bench.week_id, account_id=pm.account_id
        )
        return await postmortem_writer.reflect(
            bench.gateway,
            bench.prompts,
            frozen.owner,
            instrument=frozen.instrument,
            direction=frozen.direction,
            thesis=frozen.thesis,
            week_return=pm.week_return,
            instrument_return=pm.instrument_return,
            indicators=pm.indicators,
            site=site,
        )
