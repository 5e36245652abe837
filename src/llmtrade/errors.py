"""Every error llmtrade raises on purpose.

Two families, after freqtrade: an OperationalError stops the command and explains what to fix
(bad config, bad arguments, a refused order); a TemporaryError is worth retrying with backoff
(rate limits, timeouts, a database that is still starting). The CLI turns both into a message
and an exit code; neither ever reaches the user as a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any


class LlmtradeError(Exception):
    """Base of all llmtrade errors; `exit_code` is what the CLI exits with."""

    exit_code = 1


class OperationalError(LlmtradeError):
    """Stop and explain: retrying will not help until someone changes something."""


class TemporaryError(LlmtradeError):
    """Worth retrying: the same call may succeed later."""

    # EX_TEMPFAIL from sysexits.h, so cron wrappers can tell "try again" from "fix me".
    exit_code = 75


class Waiting(TemporaryError):
    """A job stopped to wait, its StageDeferred recorded: a price not there now, an owner's or a role's provider not
    answering. Exit 75 as any temporary failure, and no failure: the next wake-up asks again until the deadline its
    message names. Said as a wait (exits.py `Failure.waiting`), not as the stage's failure it is raised inside."""


class UsageError(OperationalError):
    """A command-line argument or environment setting that cannot be used."""

    exit_code = 2

    @classmethod
    def unknown(
        cls, statement: str, value: str, known: Iterable[str], *, otherwise: str, listed_as: str = "known"
    ) -> UsageError:
        """A name that names nothing llmtrade knows (an account, an event type, a run id, a week), which would
        otherwise list nothing and exit 0 as if nothing of the kind had happened. `statement` says what `value` is
        not ("--account 'acct_9' is not an account in accounts.yaml"); the hint lists every known name when there are
        few, after `listed_as` (a person picks from them), else the near ones (a misspelling), else says `otherwise`
        (where to look)."""
        names = sorted(set(known))
        if 0 < len(names) <= _LISTED:
            hint = f"{listed_as}: {', '.join(names)}"
        else:
            near = near_names(value, names)
            hint = f"did you mean {', '.join(near)}?" if near else otherwise
        return cls(f"{statement}; {hint}")


def near_names(value: str, names: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to `n` of `names` near `value` (difflib's ratio at least `cutoff`), nearest first; when one is a slip of
    the keys away (at most two characters lost, added or mistyped), only the fewest keys away. Names of one format share
    most of their characters (run ids `20260107T130000Z-abe2df` and `20260114T130000Z-9be21c` are 0.8 alike), so a
    run id copied one character short also named another week's run, by the chance of its random suffix."""
    from difflib import SequenceMatcher, get_close_matches  # lazy: only a name that names nothing needs it

    near = get_close_matches(value, list(names), n=n, cutoff=cutoff)
    edits = {name: _edits(SequenceMatcher(None, value, name)) for name in near}
    fewest = min(edits.values(), default=0)
    return [name for name in near if edits[name] == fewest] if fewest <= 2 else near


def _edits(matched: Any) -> int:
    """Characters to change, add or drop to turn one string into the other, by difflib's alignment (an upper
    bound of the Levenshtein distance)."""
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matched.get_opcodes() if tag != "equal")


_LISTED = 12  # at most this many known names are listed whole: six accounts are, a hundred event types are not


class NoTradingYet(UsageError):
    """Books that hold no trading run or fill yet. Where books must hold some (`leaderboard --versus`, a backtest's
    own figures) it is refused as any argument naming unusable books (exit 2); `leaderboard` and `report` of the books
    asked for answer it as the state it is, a fresh install's (exit 0: app/books_empty.py). `first`: what to do."""

    def __init__(self, message: str, *, first: str) -> None:
        super().__init__(message)
        self.first = first


class SessionOver(UsageError):
    """A job that may only trade in a session already closed (a checkpoint after its day's close, a weekly run after its
    week's last close). By hand, a usage error (exit 2); run-due, which listed the job due before the close and reached
    it after (the machine's clock moved while the jobs before it ran), says it and goes on (app/due_run.py)."""


class DatabaseError(OperationalError):
    """The database could not be reached, started or migrated."""


class DatabaseUnavailable(TemporaryError):
    """The database did not answer; a later attempt may succeed."""


class ConcurrencyError(OperationalError):
    """Another writer appended to the same stream first (optimistic concurrency)."""

    def __init__(self, stream: str, version: int):
        self.stream = stream
        self.version = version
        super().__init__(f"stream {stream!r} already has an event at version {version}: another writer got there first")


class AppendOnlyViolation(OperationalError):
    """Somebody tried to change or remove a stored event."""


class MissingContextKey(LlmtradeError):
    """A stage read a context key that no earlier stage set (a wiring bug, not a user mistake)."""

    def __init__(self, key: str, available: list[str]):
        self.key = key
        self.available = available
        have = ", ".join(sorted(available)) or "nothing"
        super().__init__(f"pipeline context has no {key!r}; it holds {have}")


class PipelineWiringError(OperationalError):
    """A pipeline whose stages do not fit together: a stage reads a key that neither the caller provides
    nor an earlier stage writes (raised before any stage runs, so before any model is called), or a
    stage that did not write what it declared."""

    def __init__(self, message: str, *, stage: str, key: str):
        self.stage = stage
        self.key = key
        super().__init__(f"pipeline wiring: {message}")


class StageError(LlmtradeError):
    """A pipeline stage raised; carries the stage's name and keeps the original as __cause__."""

    def __init__(self, stage: str, cause: BaseException):
        self.stage = stage
        self.cause = cause
        # Keep the cause's exit code so a temporary failure inside a stage (ours, or the database's) still
        # exits 75: the one table in exits.py decides.
        from llmtrade.exits import exit_code_of  # lazy: exits.py imports this module

        self.exit_code = exit_code_of(cause)
        # A wait is no failure of the stage: its own text says what it waits for and until when (the run's RunFailed
        # keeps this text; stderr and the alert said "stage 'complete' failed: checkpoint ... not judged yet").
        super().__init__(str(cause) if isinstance(cause, Waiting) else f"stage {stage!r} failed: {cause}")


class LLMUnavailable(TemporaryError):
    """A model provider did not answer after every retry (rate limit, 5xx, timeout, connection)."""

    attempts = 1  # requests sent for the call (set by the client): what a stage's line counts
    # Attempts cut off after the provider had answered 200 (set by the client): it went on generating and bills them.
    cut_off = 0
    # The usages (llm.types.Usage) the provider reported for attempts that failed after its 200 (an error in the
    # body): billed at that cost (set by the client).
    billed: tuple = ()
    # The seconds the provider asked to wait before another attempt (Retry-After and kin), where one was named.
    retry_after: float | None = None


class LLMRequestRejected(OperationalError):
    """A provider refused the request itself (bad key, unknown model, bad parameters): retrying won't help."""

    attempts = 1  # as LLMUnavailable's
    cut_off = 0  # as LLMUnavailable's
    billed: tuple = ()  # as LLMUnavailable's


class InvalidLLMOutput(OperationalError):
    """A model's answer did not fit the schema, even after one repair attempt."""

    def __init__(self, model: str, role: str, problem: str, answer: str):
        self.model = model
        self.role = role
        self.problem = problem
        self.answer = answer
        super().__init__(f"{model} gave an invalid {role} answer after a repair attempt: {problem}")


class RunStopped(OperationalError):
    """A failure that ends the whole run, not one member of a committee: fanout.gather_settled raises it
    instead of collecting it, so no stage freezes it as one role's final answer."""


class BudgetExceeded(RunStopped):
    """A model call refused before it was sent: what is spent plus its worst case would pass a dollar budget
    (models.yaml `budget:`), or its model has no price while a budget is set. Exit 1: waiting does not help;
    raise the budget or wait for the next week's. Also a retry not sent after billed attempts of the call (one more
    worst case did not fit): those attempts are counted as LLMUnavailable's are (set by the client)."""

    attempts = 0
    cut_off = 0
    billed: tuple = ()


class ReplayMiss(RunStopped):
    """`--replay` asked for a call that the cache does not hold. It ends the run (RunStopped): a miss says nothing
    about the model, so it must never be frozen into the week as that member's failed pitch, review or checkpoint
    (a replayed backtest with one pitch missing from its cache stored that PM as failed for good)."""


class PromptError(RunStopped):
    """A prompt template could not be rendered (missing variable, syntax error, unknown template, its code failed).

    It ends the run (RunStopped), never collected as one member's failure: every member is asked with the same
    template, every week, so frozen as each one's failed pitch, review or checkpoint it degraded every week of a
    backtest with no word on stderr, and stayed in the books after the template was fixed. `override`: the template
    at fault is the user's own (a file of their prompt override folder), their configuration as a YAML file is:
    exit 2, as `config validate` refusing one. A packaged template's failure is llmtrade's own bug: exit 1."""

    def __init__(self, message: str, *, override: bool = False):
        super().__init__(message)
        self.override = override
        if override:
            self.exit_code = 2  # ConfigError's (config_errors.py): a configuration the user fixes


class MarketDataError(OperationalError):
    """Market data that cannot be used: a malformed file, an unknown symbol, no provider left."""

    # When no provider was left: the symbols none supplied (market/service.py), for a reader that goes on without them
    # (market/snapshot.py `week_snapshot`). Empty when not known.
    short: tuple[str, ...] = ()


class PartAnswered(LlmtradeError):
    """A market data provider's failure that may be about some symbols of a request only (MarketDataMissing's and
    MarketDataUnavailable's one shape): `symbols`, those it lacked, when it knows; `answered`, the bars it did send
    for the others, which the market service keeps (a batch one symbol of which came back empty: a symbol listed
    after the range, or delisted, beside ones that trade; or one symbol's request throttled)."""

    def __init__(
        self, message: str, *, symbols: Sequence[str] = (), answered: Mapping[str, Sequence[Any]] | None = None
    ):
        super().__init__(message)
        self.symbols = tuple(symbols)
        self.answered = dict(answered or {})


class MarketDataMissing(PartAnswered, MarketDataError):
    """A market data provider answered, but has nothing for what was asked (a symbol it does not know, a range it
    does not cover, a file that is not there): the next provider is asked. Asking it again later gets the same
    answer, so when no provider is left someone has to look (exit 1). `symbols` and `answered`: PartAnswered's."""


class MarketProviderUnset(MarketDataMissing):
    """A market data provider that cannot be asked at all (its keys are not set): the next provider is asked. It
    says nothing about whether a later run would succeed, so it neither makes nor spoils a temporary failure."""


class MarketDataUnavailable(PartAnswered, TemporaryError):
    """A market data provider could not be reached or is struggling (no network, a name that does not resolve, a
    refused connection, a timeout, a 429 or 5xx, a maintenance page instead of data): another provider may answer,
    and the same one later. `symbols` and `answered`: PartAnswered's (one symbol's request of a batch throttled while
    the others came back)."""


class BarNotComplete(MarketDataUnavailable):
    """No provider left has a complete bar of `session` yet (market/failures.py `not_complete`: Alpaca's SIP feed asked
    16 minutes back, Yahoo's bar still live after the close): temporary, a later run gets it. A read-only valuation
    (`status`) values at the session before instead; `reasons`: each provider's why, for it to say. `symbols` and
    `answered`: PartAnswered's (a CSV folder's other files read); `unfinished`: the rows left out by symbol, written
    during their session (market/csv_unfinished.py), whose open alone is final (a paper fill at the open takes it)."""

    def __init__(
        self,
        message: str,
        *,
        session: date,
        reasons: Sequence[str] = (),
        symbols: Sequence[str] = (),
        answered: Mapping[str, Sequence[Any]] | None = None,
        unfinished: Mapping[str, Sequence[Any]] | None = None,
    ):
        super().__init__(message, symbols=symbols, answered=answered)
        self.session = session
        self.reasons = tuple(reasons) or (message,)
        self.unfinished = dict(unfinished or {})


class LiveTradingRefused(OperationalError):
    """An order route to a real-money endpoint while live trading is not explicitly enabled."""


class BrokerRejected(OperationalError):
    """The broker refused an order (insufficient buying power, not shortable, market rules).

    `lasting`: the broker's adapter read the refusal as one that sending the order again this week cannot change (the
    asset not tradable, not to be sold short, an account not allowed to short: brokers/alpaca_refusals.py
    `is_lasting`); the workflows give such an order up once instead of resending it at every checkpoint and rerun.
    False for a refusal that may pass later (buying power, shares held for an open order) and for one not known."""

    def __init__(self, message: str, *, lasting: bool = False):
        super().__init__(message)
        self.lasting = lasting


class BrokerUnavailable(TemporaryError):
    """The broker did not answer, and the order's fate could not be established by lookup."""


class KillSwitchOn(TemporaryError):
    """Orders not sent because trading is disabled (`llmtrade trading disable`); each is recorded as OrderBlocked.

    A wait someone chose, not a failure to look at: exit 75, and the first run after `trading enable` sends them. An
    operator's trial had every cron wake-up exit 1 with the same line while the switch was off, a mail every five
    minutes; as a wait, run-due says it once (app/due_waits.py)."""


class LLMRateLimited(LLMUnavailable):
    """A rate limit this run cannot wait out (a daily quota, or a Retry-After beyond the configured cap):
    still temporary (exit 75, a later run may succeed), but failed at once instead of retried for minutes."""


class LLMOutOfCredits(LLMUnavailable):
    """The provider has no credits left for the key (HTTP 402; OpenRouter's `metadata.limit_source` says which
    limit): fixed by topping up, not by waiting in the run, so failed at once, and temporary (exit 75) until the
    stage's retry deadline."""


class LLMServerOutOfMemory(LLMUnavailable):
    """The server cannot load the model into its memory (Ollama's 500 "model requires more system memory ... than is
    available"): no wait within the run makes room, so failed at once, and temporary (exit 75): freeing memory or a
    smaller model mends it, and a later run asks again."""


class LLMAuthRejected(LLMRequestRejected):
    """The provider refused the key or the account (HTTP 401/403): final for this run, but cured by a fixed key or
    account, so never held for a rerun (pipeline/retry): the rerun after the fix asks again."""


class LLMLocationRefused(LLMAuthRejected):
    """The provider refuses calls from where they come (Google's 400 FAILED_PRECONDITION "User location is not
    supported for the API use"): the account's or the caller's region, not the request; mended by calling from a
    supported one (a base_url, a proxy, Vertex AI), so, as a refused key, never held for a rerun."""


class LLMNoEndpoint(LLMAuthRejected):
    """HTTP 404: nothing at the provider serves the model for this account (an unknown model, or OpenRouter's "No
    endpoints found matching your data policy"): fixed in the account's settings or models.yaml, so, as a refused
    key, never held for a rerun."""


class StructuredOutputRefused(LLMRequestRejected):
    """The provider refused the response format (json_schema, strict mode or one of the schema's keywords);
    the gateway falls back to a weaker format rather than failing the role."""
