"""One message to one apprise URL. apprise is imported here, on the first send only (it takes ~0.5 s).

Messages are cut to our own limits first (a title line, a body of a few paragraphs: alerts are read on
phones); then each service's own limit applies: apprise knows every service's body and title maximum,
and a URL that does not choose its `overflow=` mode is set to truncate rather than pass the text
upstream whole (Discord refuses a body over 2000 characters)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from llmtrade.threads import within

TITLE_MAX = 120
BODY_MAX = 1500
# The most one send may take. apprise bounds each read (4 s), not a whole answer, and apprise 2's own bound of a
# service (60 s) leaves the send running on its pool's thread, which Python joins at exit: a webhook that trickled
# its answer held a cron run-due, its work done, for good, and a SIGTERM then ended nothing.
SEND_SECONDS = 30.0
_SPLIT = re.compile(r"[\s,]+")


class Unanswered(str):
    """`send`'s error when the service gave no answer within SEND_SECONDS: dispatch.py tries that URL no more in this
    command (each try would wait the whole bound again)."""


def urls_from(value: str | None) -> list[str]:
    """LLMTRADE_ALERT_URLS split on commas and whitespace (apprise URLs contain neither unescaped)."""
    return [url for url in _SPLIT.split(value or "") if url]


def unusable(urls: Sequence[str]) -> list[str]:
    """Those of `urls` apprise can make nothing of (no service has the scheme, or the URL lacks what its service
    needs), each by its place and its record's name (`target_of`: never a secret). Such a URL can never send:
    `config validate` says so, where the first incident would have been the first to tell."""
    return [place(urls, url) for url in urls if not usable(url)]


def usable(url: str) -> bool:
    """Whether apprise can make a service of `url` at all; False is for good (a configuration problem, no send to
    retry), whatever the service's own state."""
    import apprise  # lazy: see the module docstring

    with apprise.LogCapture(level=apprise.logging.ERROR):  # apprise's own words for it go nowhere: ours say it
        return apprise.Apprise.instantiate(url) is not None


def place(urls: Sequence[str], url: str) -> str:
    """`url` by its place in `urls` and its record's name, as `config validate` names it: never its secret."""
    return f"URL {urls.index(url) + 1} of {len(urls)} ({target_of(url)})"


def target_of(url: str) -> str:
    """A URL's name for the record: its scheme and a hash, never its secret parts."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "unknown"
    return f"{scheme}:{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at a line or word end where one is near, saying what was cut."""
    if len(text) <= limit:
        return text
    note = " [... {} more characters: `llmtrade status` has the rest]"
    room = limit - len(note.format(len(text)))
    cut = text[:room]
    for mark in ("\n", " "):
        at = cut.rfind(mark)
        if at > room * 0.6:
            cut = cut[:at]
            break
    return cut.rstrip() + note.format(len(text) - len(cut.rstrip()))


def send(url: str, title: str, body: str, *, failure: bool = True) -> str | None:
    """Send; None when the service took it, else why not (apprise's warnings, or an unknown URL)."""
    import apprise  # lazy: see the module docstring
    from apprise.common import NotifyType, OverflowMode

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return f"{target_of(url)}: not an apprise URL apprise can use"
    if "overflow=" not in url:
        plugin.overflow_mode = OverflowMode.TRUNCATE

    def attempt() -> tuple[bool, str]:
        # The plugin's own notify, on the daemon thread `within` gives it: Apprise.notify would hand it to apprise's
        # pool (see SEND_SECONDS). The capture is made on that thread, where apprise logs the send. At DEBUG for the
        # exception behind a "connection error" (`_warnings`), which no other line of apprise's names.
        with apprise.LogCapture(level=apprise.logging.DEBUG, fmt=f"%(levelno)d{_SEP}%(message)s") as captured:
            sent = plugin.notify(
                body=clip(body, BODY_MAX),
                title=clip(title, TITLE_MAX),
                notify_type=NotifyType.FAILURE if failure else NotifyType.INFO,
            )
            return bool(sent), captured.getvalue()

    try:
        ok, said = within(attempt, SEND_SECONDS)
    except TimeoutError:
        return Unanswered(f"no answer within {SEND_SECONDS:g} s (the service is slow or hangs; left behind)")
    if ok:
        return None
    return _last_lines(_warnings(said)) or f"{target_of(url)}: the service did not accept the alert"


_SEP = "\x1f"  # between a captured line's level and its message: in no message
# The kinds of network failure apprise's plugins log as "Socket Exception: <the requests exception>" at DEBUG, after a
# warning that says "A Connection error occurred" whatever it was: a cron trial's webhook that answered too slowly read
# as one not reached. Only the kind is said: the exception's text names the URL, whose path may be the secret (a
# Slack or Discord webhook's token).
_KINDS = (
    ("Read timed out", "no answer in its read timeout"),
    ("ReadTimeout", "no answer in its read timeout"),
    ("ConnectTimeout", "not reached in its connect timeout"),
    ("connect timeout", "not reached in its connect timeout"),
    ("Connection refused", "connection refused"),
    ("NameResolutionError", "its host name not found"),
    ("Name or service not known", "its host name not found"),
    ("Temporary failure in name resolution", "its host name not found for now"),
    ("SSLError", "TLS failed"),
    ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate not trusted"),
    ("Connection reset", "connection reset"),
    ("RemoteDisconnected", "the service closed the connection without an answer"),
)


def _warnings(captured: str) -> list[str]:
    """apprise's warnings and errors from a send's captured lines, each connection error with its kind (`_KINDS`) when
    the exception logged after it names one; apprise's other DEBUG lines (the request, the URL) left out."""
    said: list[str] = []
    kept = False  # whether the message the next line may continue is a warning kept
    for line in captured.splitlines():
        level, sep, message = line.partition(_SEP)
        if not sep or not level.isdigit():
            if kept:  # a warning's own next line
                said[-1] += " " + line.strip()
            continue
        kept = int(level) >= 30  # logging.WARNING
        if kept:
            said.append(message.strip())
        elif message.startswith("Socket Exception") and said:
            kind = next((words for mark, words in _KINDS if mark in message), None)
            if kind is not None and f"({kind})" not in said[-1]:
                said[-1] = f"{said[-1].rstrip('.')} ({kind})."
    return said


def _last_lines(lines: Sequence[str], keep: int = 3) -> str:
    return " | ".join(line.strip() for line in lines[-keep:])[:500]
