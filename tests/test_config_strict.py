"""The config, strictly: real booleans and numbers only, every rule a run depends on checked at load,
and every unreadable or mis-encoded file (YAML or prompt override) an exit 2 naming the file and line.

Each case goes through `llmtrade config validate` and a command that runs (`run-weekly --dry-run`):
both must refuse the config, exit 2, name the file, and never print a traceback.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner, Result

from llmtrade.cli import app
from llmtrade.commands.context import State
from llmtrade.config.files import read_text
from llmtrade.config.loader import load_config, write_defaults
from llmtrade.config.models import CONFIG_FILES
from llmtrade.config_errors import ConfigError
from tests.support import WEDNESDAY_8AM

runner = CliRunner()
COMMANDS = [["config", "validate"], ["run-weekly", "--dry-run", "--offline"]]


def _folder(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """The packaged defaults with each (file, old, new) replacement applied once."""
    folder = tmp_path / "cfg"
    if not folder.exists():
        write_defaults(folder)
    for filename, old, new in edits:
        path = folder / filename
        text = path.read_text()
        assert old in text, f"fixture text {old!r} not in {filename}"
        path.write_text(text.replace(old, new, 1))
    return folder


def _refused(folder: Path, command: list[str], *expected: str) -> Result:
    result = runner.invoke(app, ["--config", str(folder), *command])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.output, f"{text!r} not in:\n{result.output}"
    return result


# ---------------------------------------------------------------- strict booleans and numbers


LIVE = "live_trading_enabled: false"
STRICT_CASES = {
    "live yes": ("risk.yaml", LIVE, 'live_trading_enabled: "yes"', "live_trading_enabled", "'yes'"),
    "live true quoted": ("risk.yaml", LIVE, 'live_trading_enabled: "true"', "live_trading_enabled", "'true'"),
    "live 1": ("risk.yaml", LIVE, "live_trading_enabled: 1", "live_trading_enabled", "(got 1)"),
    "live on quoted": ("risk.yaml", LIVE, "live_trading_enabled: 'on'", "live_trading_enabled", "'on'"),
    # YAML 1.1 read these unquoted as true: a new user's `live_trading_enabled: yes` turned live trading on.
    "live yes unquoted": ("risk.yaml", LIVE, "live_trading_enabled: yes", "live_trading_enabled", "'yes'"),
    "live on unquoted": ("risk.yaml", LIVE, "live_trading_enabled: ON", "live_trading_enabled", "'ON'"),
    "allow_short no unquoted": ("risk.yaml", "allow_short: true", "allow_short: no", "limits.allow_short", "'no'"),
    "allow_short no": ("risk.yaml", "allow_short: true", 'allow_short: "no"', "limits.allow_short", "'no'"),
    "shortable": (
        "assets.yaml",
        "{symbol: QQQ, asset_class: equity,",
        "{symbol: QQQ, asset_class: equity, shortable: 'true',",
        "universe[1].shortable",
        "'true'",
    ),
    "structured_outputs": (
        "models.yaml",
        "max_retries: 4",
        "max_retries: 4\n    structured_outputs: 0",
        "providers.openrouter.structured_outputs",
        "(got 0)",
    ),
    "cash as text": (
        "accounts.yaml",
        "{id: acct_6, name: FLAT baseline, role: flat}",
        "{id: acct_6, name: FLAT baseline, role: flat, starting_cash: '100000'}",
        "accounts[5].starting_cash",
        "'100000'",
    ),
    "cash infinite": (
        "accounts.yaml",
        "{id: acct_6, name: FLAT baseline, role: flat}",
        "{id: acct_6, name: FLAT baseline, role: flat, starting_cash: .inf}",
        "accounts[5].starting_cash",
        "finite number",
    ),
    "slippage as text": ("accounts.yaml", "slippage_bps: 5", 'slippage_bps: "5"', "paper.slippage_bps", "'5'"),
    "slippage boolean": ("accounts.yaml", "slippage_bps: 5", "slippage_bps: yes", "paper.slippage_bps", "'yes'"),
    "positions boolean": ("risk.yaml", "max_open_positions: 10", "max_open_positions: on", "limits.max", "'on'"),
    # Date-shaped, no date: was "malformed YAML: '2024-13-45' is not a date" at a line, the field not named.
    "cutoff no date": (
        "models.yaml",
        "knowledge_cutoff: 2024-09-30",
        "knowledge_cutoff: 2024-13-45",
        "pms[0].knowledge_cutoff: must be a date",
        "'2024-13-45'",
    ),
}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("case", list(STRICT_CASES))
def test_switches_and_money_accept_only_real_booleans_and_numbers(
    tmp_path: Path, case: str, command: list[str]
) -> None:
    filename, old, new, field_path, value = STRICT_CASES[case]
    folder = _folder(tmp_path, (filename, old, new))
    _refused(folder, command, f"invalid configuration in {folder / filename}", field_path, value)


def test_real_booleans_and_integers_for_floats_are_accepted(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        ("risk.yaml", LIVE, "live_trading_enabled: true"),
        ("accounts.yaml", "slippage_bps: 5", "slippage_bps: 5.5"),
    )
    config = load_config(folder).config
    assert config.risk.live_trading_enabled is True
    assert config.accounts.paper.slippage_bps == 5.5
    assert config.accounts.accounts[0].starting_cash == 100_000.0


def _scalar_fields(model: type[BaseModel], path: str = "") -> typing.Iterator[tuple[str, type, list[object]]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
        for arg in args:
            inner = typing.get_args(arg)
            for candidate in (arg, *inner):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    yield from _scalar_fields(candidate, f"{path}{name}.")
            if arg in (bool, int, float):
                yield f"{path}{name}", arg, list(field.metadata)


def test_every_boolean_and_number_in_the_five_files_is_strict() -> None:
    # A field added later (a provider option, a market-data switch) is caught here, not in production.
    lax = []
    for filename, model in CONFIG_FILES.items():
        for path, kind, metadata in _scalar_fields(model):
            strict = any(type(m).__name__ == "Strict" and getattr(m, "strict", False) for m in metadata)
            finite = kind is not float or any(getattr(m, "allow_inf_nan", True) is False for m in metadata)
            if not (strict and finite):
                lax.append(f"{filename}: {path} ({kind.__name__})")
    assert lax == [], "use Flag / Number / Count from config/models.py"


def test_yaml_words_read_as_booleans_get_a_hint(tmp_path: Path) -> None:
    # An unquoted 9:00, a number to YAML 1.1 (base 60), is the time written: tests/test_times_and_days_typed.py.
    folder = _folder(tmp_path, ("assets.yaml", "{symbol: UUP,", "{symbol: TRUE,"))
    _refused(folder, ["config", "validate"], "universe[7].symbol", "quote it")


def test_yes_no_on_off_are_text_as_in_yaml_1_2(tmp_path: Path) -> None:
    """PyYAML reads YAML 1.1, where an unquoted ON (ON Semiconductor's ticker) or yes is a boolean: only true and
    false are, here; a switch refuses the rest (STRICT_CASES) and a symbol keeps it."""
    folder = _folder(tmp_path, ("assets.yaml", "{symbol: UUP,", "{symbol: ON,"))
    assert "ON" in [i.symbol for i in load_config(folder).config.assets.universe]


# ---------------------------------------------------------------- rules a run depends on


PM = 'postmortem: {day: tuesday, time: "16:30"}'
RULE_CASES = {
    "no benchmark": (
        "assets.yaml",
        "  - {symbol: SPY, asset_class: equity, name: SPDR S&P 500 ETF}\n",
        "",
        "universe: the benchmark SPY is not in the universe",
    ),
    "symbol twice": ("assets.yaml", "{symbol: IAU,", "{symbol: GLD,", "universe[9].symbol: GLD is listed twice"),
    # A new user's trial: "a checkpoint time is listed twice", which one not said.
    "checkpoint twice": (
        "schedule.yaml",
        '"14:00", "15:50"]',
        '"09:00", "15:50"]',
        "checkpoints: a checkpoint time is listed twice: 09:00",
    ),
    "checkpoint after close": (
        "schedule.yaml",
        '"15:50"]',
        '"16:30"]',
        "checkpoints: is at or after the 16:00 close (New York), so it would never run; "
        "use a time before the close, e.g. 15:50 (got '16:30')",
    ),
    # A week runs Wednesday to Tuesday; a postmortem before Tuesday's close closed it while it traded, and a
    # backtest then stopped at the next checkpoint blaming the clock. Wednesday after the weekly run never ran then.
    **{
        f"postmortem {day}": (
            "schedule.yaml",
            PM,
            f'postmortem: {{day: {day}, time: "16:30"}}',
            f"postmortem.day: {day} comes before the week's last session (a week runs Wednesday to Tuesday)",
        )
        for day in ("monday", "thursday", "friday")
    },
    "postmortem tuesday morning": (
        "schedule.yaml",
        PM,
        'postmortem: {day: tuesday, time: "10:00"}',
        "postmortem.time: tuesday 10:00 is before the 16:00 close (New York) of the week's last session",
    ),
    "postmortem after the weekly run": (
        "schedule.yaml",
        PM,
        'postmortem: {day: wednesday, time: "10:00"}',
        "postmortem.time: wednesday 10:00 is after the next week's weekly run (wednesday 08:00), which reads the "
        "postmortem, so it would run at 08:00 every week instead",
    ),
    # Found passing validate: every command then exited 1 with "csv folder ... does not exist", naming no file (the
    # same folder as --csv exits 2); `providers: [csv]` with no folder failed only at a live run's first price.
    "csv folder missing": (
        "assets.yaml",
        "  csv_dir: null",
        "  csv_dir: /nonexistent/prices",
        "market_data.csv_dir: no such folder: create it, fix the path, or set csv_dir: null (the synthetic market "
        "offline) (got '/nonexistent/prices')",
    ),
    "csv folder relative": (
        "assets.yaml",
        "  csv_dir: null",
        "  csv_dir: prices",
        "market_data.csv_dir: no such folder (relative to the working directory ",
    ),
    "csv folder a file": (
        "assets.yaml",
        "  csv_dir: null",
        "  csv_dir: /dev/null",
        "market_data.csv_dir: is not a folder of SYMBOL.csv files (got '/dev/null')",
    ),
    "csv provider without a folder": (
        "assets.yaml",
        "providers: [alpaca, yfinance]",
        "providers: [csv]",
        "market_data.providers: lists csv, but market_data.csv_dir is null: set csv_dir to a folder of SYMBOL.csv "
        "files (or LLMTRADE_MARKET_CSV_DIR), or drop csv",
    ),
    "pm id twice": (
        "models.yaml",
        "{id: grok,",
        "{id: gpt,",
        "pms[3].id: PM id is used twice (ids must be unique) (got 'gpt')",
    ),
    "research id twice": ("models.yaml", "{id: B,", "{id: A,", "research[1].id: research id is used twice"),
    "unknown provider": (
        "models.yaml",
        "provider: openrouter, temperature: 0.2}",
        "provider: groq, temperature: 0.2}",
        "research[0].provider: no such provider (known: openrouter) (got 'groq')",
    ),
    "council of one": ("models.yaml", "council: {}", "council: {models: [{model: a/b}]}", "council.models: a council"),
    "pm account missing": ("models.yaml", "account: acct_3}", "account: acct_9}", "pms[2].account: no such account"),
    "chairman not chairman": (
        "models.yaml",
        "account: acct_5, temperature: 0.3}",
        "account: acct_6, temperature: 0.3}",
        "chairman.account: account has role flat in accounts.yaml, not chairman",
    ),
    "two flat": ("accounts.yaml", "role: chairman,", "role: flat,", "exactly one account must have role flat, found 2"),
    "account id twice": ("accounts.yaml", "{id: acct_6,", "{id: acct_1,", "accounts[5].id: account id is used twice"),
    "alpaca keys shared": (
        "accounts.yaml",
        "key_env: ALPACA_ACCT_2_KEY",
        "key_env: ALPACA_ACCT_1_KEY",
        "accounts[1].alpaca.key_env: another account uses the same Alpaca key variable",
    ),
    "yaml key twice": ("risk.yaml", LIVE, f"{LIVE}\nlive_trading_enabled: true", "key 'live_trading_enabled' is given"),
}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("case", list(RULE_CASES))
def test_every_rule_a_run_depends_on_is_checked_at_load(tmp_path: Path, case: str, command: list[str]) -> None:
    filename, old, new, message = RULE_CASES[case]
    folder = _folder(tmp_path, (filename, old, new))
    _refused(folder, command, f"invalid configuration in {folder / filename}", message)


@pytest.mark.parametrize("moved", ['{day: tuesday, time: "16:00"}', '{day: wednesday, time: "08:00"}'])
def test_a_postmortem_after_the_weeks_close_and_by_the_weekly_run_is_valid(tmp_path: Path, moved: str) -> None:
    folder = _folder(tmp_path, ("schedule.yaml", PM, f"postmortem: {moved}"))
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 0, result.output


def test_a_csv_folder_chosen_elsewhere_leaves_assets_yamls_unread_and_unchecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices"
    prices.mkdir()
    folder = _folder(
        tmp_path,
        ("assets.yaml", "  csv_dir: null", "  csv_dir: /nonexistent/prices"),
        ("assets.yaml", "providers: [alpaca, yfinance]", "providers: [csv]"),
    )
    # A command given --csv (backtest, backtest sweep) does not read assets.yaml's folder either.
    assert State(folder).config(csv_given=True).source == str(folder)
    with pytest.raises(ConfigError, match=r"market_data\.csv_dir: no such folder"):
        State(folder).config()
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(prices))  # it wins over assets.yaml's csv_dir
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 0, result.output


def test_every_broken_file_and_rule_is_reported_at_once(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        ("risk.yaml", LIVE, 'live_trading_enabled: "yes"'),
        ("assets.yaml", "  - {symbol: SPY, asset_class: equity, name: SPDR S&P 500 ETF}\n", ""),
        ("schedule.yaml", '"15:50"]', '"16:30"]'),
        ("models.yaml", "account: acct_3}", "account: acct_9}"),
        ("models.yaml", "{id: grok,", "{id: gpt,"),
        ("accounts.yaml", "role: chairman,", "role: flat,"),
    )
    result = _refused(folder, ["config", "validate"])
    for filename in CONFIG_FILES:
        assert f"invalid configuration in {folder / filename}" in result.output
    for text in ("live_trading_enabled", "benchmark SPY", "checkpoints: is at", "pms[2].account", "found 2"):
        assert text in result.output
    assert "pms[3].id: PM id is used twice" in result.output
    # models.yaml against accounts.yaml: the chairman's account now has role flat, which is named too.
    assert "chairman.account: account has role flat" in result.output


def test_a_broken_file_does_not_hide_the_rules_of_the_others(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("assets.yaml", "universe:", "universe: ["), ("models.yaml", "{id: grok,", "{id: gpt,"))
    _refused(folder, ["config", "validate"], f"{folder / 'assets.yaml'}\n  - line", "pms[3].id: PM id is used twice")


# ---------------------------------------------------------------- unreadable and mis-encoded files


def test_a_file_that_is_not_utf8_names_the_line_and_what_to_do(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    path = folder / "assets.yaml"
    path.write_bytes(path.read_bytes().replace(b"SPDR Gold Shares", "SPDR Gold Shares \u00e9".encode("latin-1")))
    line = path.read_bytes().split(b"\n").index(next(x for x in path.read_bytes().split(b"\n") if b"\xe9" in x)) + 1
    for command in COMMANDS:
        _refused(
            folder, command, f"invalid configuration in {path}", f"line {line}, column", "0xE9 is not UTF-8", "iconv"
        )


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    for filename in CONFIG_FILES:
        path = folder / filename
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_config(folder).config == load_config(None).config
    (folder / "risk.yaml").write_bytes(b"\xef\xbb\xbf# caf\xe9\n")  # the mark does not shift the column
    _refused(folder, ["config", "validate"], "line 1, column 6: byte 0xE9 is not UTF-8")


def test_a_file_that_cannot_be_read_is_explained_whoever_runs_the_tests() -> None:
    # Root reads any file, so the permission case is also driven through a file object that refuses.
    class Refusing:
        def __init__(self, error: OSError):
            self.error = error

        def read_bytes(self) -> bytes:
            raise self.error

    with pytest.raises(ConfigError, match=r"x.yaml: cannot be read \(permission denied\): give your user read"):
        read_text(Refusing(PermissionError(13, "Permission denied")), "x.yaml", restore="")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"x.yaml: cannot be read: Input/output error"):
        read_text(Refusing(OSError(5, "Input/output error")), "x.yaml", restore="")  # type: ignore[arg-type]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_folder_an_empty_file_and_a_control_character_are_explained(tmp_path: Path, command: list[str]) -> None:
    folder = _folder(tmp_path)
    (folder / "risk.yaml").unlink()
    (folder / "risk.yaml").mkdir()
    (folder / "schedule.yaml").write_text("")
    (folder / "models.yaml").write_text((folder / "models.yaml").read_text().replace("pms:", "pms:\x07", 1))
    _refused(
        folder,
        command,
        f"{folder / 'risk.yaml'}: is a folder, not a file",
        f"{folder / 'schedule.yaml'}: file is empty",
        f"{folder / 'models.yaml'}\n  - line",
        "is not allowed",
    )


def test_a_config_folder_that_is_a_file_is_explained(tmp_path: Path) -> None:
    (tmp_path / "cfg").write_text("not a folder")
    _refused(tmp_path / "cfg", ["config", "validate"], "is a file, not a folder")


# ---------------------------------------------------------------- prompt overrides


PROMPT_CASES = {
    "not utf-8": ("pm_pitch.user.j2", "Pitch \u00e9".encode("latin-1"), "line 1, column 7: byte 0xE9 is not UTF-8"),
    "syntax error": ("pm_pitch.user.j2", b"one\n{% if x %}\nunclosed", "line 3: template syntax error"),
    "misspelt name": ("pm_pitch.usr.j2", b"text", "overrides no packaged template"),
    # Both parse; StrictUndefined and the compiler refused them only at the run's first render, after the research.
    "undefined variable": (
        "pm_pitch.user.j2",
        b"{{ packs }}\n{{ wek_id }}",
        "line 2: uses 'wek_id', which this prompt is not given (it is given: memory, packs, snapshot, universe, "
        "week_id)",
    ),
    "unknown filter": ("research.user.j2", b"{{ week_id | percent }}", "line 1: template error: No filter named"),
    # jinja2 looks an included template up only when it renders: the run failed naming the includer as not found.
    "missing include": (
        "pm_pitch.user.j2",
        b'House rules:\n{% include "_house_rules.j2" %}',
        "line 2: includes template '_house_rules.j2', which is not in",
    ),
}


@pytest.mark.parametrize("case", list(PROMPT_CASES))
def test_a_broken_prompt_override_is_refused_before_any_model_call(
    tmp_path: Path, case: str, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, content, message = PROMPT_CASES[case]
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / name).write_bytes(content)
    monkeypatch.setenv("LLMTRADE_PROMPTS_DIR", str(prompts))
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    for command in (["config", "validate"], ["run-weekly", "--dry-run"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert f"invalid configuration in {prompts / name}" in result.output
        assert message in result.output and "Traceback" not in result.output


def test_an_override_may_use_whatever_its_prompt_is_given(tmp_path: Path) -> None:
    """A role's system and user templates are rendered with the same variables; the picker is given its candidates
    beside their table (agents/picker.py), which the packaged templates leave unused."""
    from llmtrade.prompts.renderer import PromptRenderer

    (tmp_path / "pm_pitch.system.j2").write_text("You manage money in the week of {{ week_id }}.")
    (tmp_path / "picker.user.j2").write_text("{% for c in candidates %}{{ c.symbol }} {{ loop.index }}{% endfor %}")
    (tmp_path / "_memory.j2").write_text("{% for line in memory %}- {{ line }}{% endfor %}")
    assert PromptRenderer(tmp_path).source_of("picker.user.j2") == str(tmp_path / "picker.user.j2")


def test_a_misspelt_override_is_offered_templates_only(tmp_path: Path) -> None:
    """A new user's trial: the rename hint listed renderer.py (the package folder's Python) among the templates."""
    from llmtrade.config_errors import ConfigError
    from llmtrade.prompts.renderer import PromptRenderer

    (tmp_path / "pm.system.j2").write_text("text")
    with pytest.raises(ConfigError) as refused:
        PromptRenderer(tmp_path)
    hint = str(refused.value).split("rename it to one of: ", 1)[1]
    names = [n.strip() for n in hint.split(",")]
    assert "pm_pitch.system.j2" in names and all(n.endswith(".j2") for n in names), names


def test_config_validate_reports_the_config_and_the_prompts_together(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("risk.yaml", LIVE, "live_trading_enabled: 1"))
    (folder / "prompts").mkdir()
    (folder / "prompts" / "pm_pitch.user.j2").write_text("{{ unclosed")
    _refused(folder, ["config", "validate"], "live_trading_enabled", f"{folder / 'prompts' / 'pm_pitch.user.j2'}")


def test_a_prompt_override_with_a_byte_order_mark_renders_without_it(tmp_path: Path) -> None:
    from llmtrade.prompts.renderer import PromptRenderer

    (tmp_path / "council_answer.system.j2").write_bytes(b"\xef\xbb\xbfAnswer briefly.")
    assert PromptRenderer(tmp_path).render("council_answer", query="Hi?").system == "Answer briefly."
    folder = _folder(tmp_path)
    (folder / "prompts").mkdir()
    (folder / "prompts" / "council_answer.system.j2").write_bytes(b"\xef\xbb\xbfAnswer briefly.")
    ok = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert ok.exit_code == 0 and "prompt overrides from" in ok.output, ok.output


def test_a_missing_prompt_override_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRADE_PROMPTS_DIR", str(tmp_path / "nowhere"))
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2 and "the prompt override folder does not exist" in result.output, result.output


def test_every_asset_class_the_class_limit_groups_by_can_be_priced_offline() -> None:
    # The 30% rule groups by AssetClass; the synthetic market must have a factor for each one.
    from llmtrade.config.models import AssetClass
    from llmtrade.market.synthetic import FACTORS

    assert {c.value for c in AssetClass} <= set(FACTORS)


def test_a_budget_beside_a_model_without_a_price_is_refused_before_any_call(tmp_path: Path) -> None:
    """A trial: `budget: {per_run_usd: 2.0}` and a research model with no price passed `config validate`; the live run
    then stopped at that model's first call (the budget refuses what it cannot price), after research A was paid."""
    budget = ("models.yaml", "# budget: {per_run_usd: 2.0, per_week_usd: 10.0}", "budget: {per_run_usd: 2.0}")
    assert runner.invoke(app, ["--config", str(_folder(tmp_path, budget)), "config", "validate"]).exit_code == 0
    unpriced = ("models.yaml", "model: perplexity/sonar-pro", "model: google/gemini-3-flash")
    _refused(
        _folder(tmp_path, unpriced),
        ["config", "validate"],
        "research[0].model: has no price in `prices:`, and `budget:` refuses the calls",
        "google/gemini-3-flash",
    )


def test_a_number_in_e_notation_and_a_bad_checkpoint_time_are_named_as_what_they_are(tmp_path: Path) -> None:
    """A trial: `1e6` was told "must be a number, written without quotes", though nothing was quoted (YAML 1.1 reads
    it as text: its floats need a dot), and "25:00" among the checkpoints "must be a 24-hour time", naming no value."""
    folder = _folder(
        tmp_path,
        ("assets.yaml", "min_avg_volume: 1000000", "min_avg_volume: 1e6"),
        ("schedule.yaml", '"15:50"]', '"25:00"]'),
    )
    refused = _refused(folder, ["config", "validate"], "'25:00' is not a time of day: the hour is 0 to 23")
    number = "must be a number: YAML reads 1e6 as text; write it with a dot (1.0e6) or in full (1000000) (got '1e6')"
    assert number in refused.output and "written without quotes" not in refused.output


# ---------------------------------------------------------------- near names: risk.yml, Risk.yaml


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("near", ["risk.yml", "Risk.yaml", "RISK.YML", "risk.yaml.txt", "risk.yml.txt"])
def test_a_near_name_beside_a_config_file_is_refused_as_never_read(
    tmp_path: Path, command: list[str], near: str
) -> None:
    """Limits tightened in a risk.yml beside risk.yaml were never read, and nothing said so (a trial)."""
    folder = _folder(tmp_path)
    text = (folder / "risk.yaml").read_text().replace("max_open_positions: 10", "max_open_positions: 2")
    (folder / near).write_text(text)
    if (folder / "risk.yaml").samefile(folder / near):
        pytest.skip("a case-insensitive file system: the near name is risk.yaml itself")  # never on Linux CI
    _refused(folder, command, f"{folder}/risk.yaml", f"{near} is beside it", "reads risk.yaml only")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_config_file_under_a_near_name_only_is_named_as_missing_and_where_it_is(
    tmp_path: Path, command: list[str]
) -> None:
    folder = _folder(tmp_path)
    (folder / "schedule.yaml").rename(folder / "schedule.yml")
    _refused(
        folder,
        command,
        f"{folder}/schedule.yaml",
        "file is missing, and schedule.yml is there",
        "(rename schedule.yml)",
    )


# ---------------------------------------------------------------- YAML merge keys, unions


def test_merge_keys_and_x_keys_work_and_a_key_given_twice_is_still_refused(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        (
            "models.yaml",
            "providers:\n  openrouter:\n",
            "x-shared: &shared\n  timeout_seconds: 45\n  max_retries: 2\nproviders:\n  openrouter:\n    <<: *shared\n",
        ),
        ("models.yaml", "    timeout_seconds: 120\n", ""),
        ("models.yaml", "    max_retries: 4\n", "    max_retries: 3\n"),  # given here: it wins over the anchor's
    )
    provider = load_config(folder).config.models.providers["openrouter"]
    assert (provider.timeout_seconds, provider.max_retries) == (45, 3)
    twice = folder / "models.yaml"
    twice.write_text(twice.read_text().replace("    max_retries: 3\n", "    max_retries: 3\n    max_retries: 5\n"))
    _refused(folder, ["config", "validate"], "key 'max_retries' is given twice")


def test_an_x_underscore_key_is_named_with_the_prefix_that_works(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("models.yaml", "providers:\n", "x_shared: {a: 1}\nproviders:\n"))
    _refused(folder, ["config", "validate"], "x_shared: unknown key (a key for anchors alone starts 'x-', not 'x_')")


@pytest.mark.parametrize("value", ["tomorrow", "90m", "-5", '"90"', "20000"])
def test_a_union_setting_is_one_error_saying_every_form_it_takes(tmp_path: Path, value: str) -> None:
    folder = _folder(tmp_path, ("schedule.yaml", "retry_until: next_job", f"retry_until: {value}"))
    result = _refused(folder, ["config", "validate"], "retry_until: must be next_job, or a whole number of minutes")
    assert "literal[" not in result.output and "constrained-int" not in result.output
    assert result.output.count("retry_until") == 1, result.output


def _unions(model: type[BaseModel], seen: set[type[BaseModel]]) -> typing.Iterator[tuple[str, typing.Any]]:
    """Each field of `model` and the models under it whose type is a union of two or more non-None members."""
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        members = [a for a in typing.get_args(field.annotation) if a is not type(None)]
        origin = typing.get_origin(field.annotation)
        if origin in (typing.Union, types.UnionType) and len(members) > 1:
            yield f"{model.__name__}.{name}", field
        for arg in [field.annotation, *members, *(a for m in members for a in typing.get_args(m))]:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                yield from _unions(arg, seen)


def test_every_union_in_the_config_says_its_forms_in_one_error() -> None:
    seen: set[type[BaseModel]] = set()
    found = [(where, f) for model in CONFIG_FILES.values() for where, f in _unions(model, seen)]
    assert any(where == "ScheduleConfig.retry_until" for where, _ in found), [w for w, _ in found]
    bare = [where for where, f in found if not any(hasattr(getattr(m, "func", None), "either") for m in f.metadata)]
    assert not bare, f"unions without config.scalars.either(...): {bare}"


# ---------------------------------------------------------------- UTF-16 from Windows tools


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_config_file_with_a_utf16_or_utf32_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    """Notepad's "Unicode" and PowerShell 5's `>` write UTF-16 with a mark: read, not refused with advice to convert
    from Latin-1 (which gave a file of NULs, then "character 0 is not allowed")."""
    folder = _folder(tmp_path, ("risk.yaml", "max_open_positions: 10", "max_open_positions: 3"))
    risk = folder / "risk.yaml"
    risk.write_bytes(risk.read_text().encode(encoding))  # Python's utf-16 and utf-32 write the byte-order mark
    assert load_config(folder).config.risk.limits.max_open_positions == 3


def test_a_config_file_in_utf16_without_a_mark_is_named_so_with_the_fix(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    risk = folder / "risk.yaml"
    risk.write_bytes(risk.read_text().encode("utf-16-le"))
    _refused(folder, ["config", "validate"], "line 1: holds NUL bytes, as UTF-16", "iconv -f utf-16 -t utf-8")


def test_held_only_is_llmtrades_mark_not_a_setting_of_assets_yaml(tmp_path: Path) -> None:
    """held_only marks a symbol the week's universe keeps only because it is held (reduce-only at the gate). Written
    in assets.yaml it was accepted and made the gate call an unheld symbol held (review L): refused, named."""
    spy = "  - {symbol: SPY, asset_class: equity, name: SPDR S&P 500 ETF}"
    folder = _folder(tmp_path, ("assets.yaml", spy, spy[:-1] + ", held_only: true}"))
    _refused(folder, ["config", "validate"], "held_only is set by llmtrade", "SPY")
