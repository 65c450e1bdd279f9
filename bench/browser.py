"""Speed in the browser: our app against the canonical Streamlit chatbot (bench/baseline_app.py), both started
with `streamlit run`, driven by headless Chromium (Debian's), answered by tests/scripted_server.py at fixed token
rates. Every figure is a median over runs, each run taking ours and the baseline in turn.

  .venv/bin/python bench/browser.py [--runs N] [--smoke] [--only SECTION ...] [--out PATH] [--app-dir DIR] [--profile]

"Visible" means in the page's DOM: replies are made of unique numbered words (t<turn>w00001 ...); bench/observer.js
stamps each word the first time it shows (a MutationObserver, then one requestAnimationFrame), in wall-clock time.
The scripted server stamps each write with time.time(); the page's clock is checked against Python's per page.
A reply that does not fully show in time (its stream's length + 60 s; 180 s for the rest) counts as unfinished
and is left out of the medians.

1. ttft: first word visible minus the server's write of it (one session, a short reply).
2. stream: last word visible minus the server's last write, for 2,000 and 8,000 words at 500/s, 2,000 at 2,000/s.
3. long_chats: a stored chat of 20 / 1,000 / 10,000 messages (ours: seeded with Store + Conversation and opened
   as ?chat=ID; the baseline: BASELINE_HISTORY): page load (navigation to its last message visible) and one turn
   (Enter to the reply's last word visible).
4. many_users: 20 sessions of one app process streaming at once: p50/p95 gap between visible updates against the
   server's gap between writes, end lag, the most any word fell behind.
5. memory: the app process's RSS idle, per open session and per streaming session (from the many_users run).
6. multi_session (issue 17): 10 sessions each streaming 400 words at 80/s: last-word lag, first-word lag, and the
   app process's own CPU time (utime + stime of /proc/PID/stat) over the run -> core per streaming reply.
7. local_model: the embedded default model's tokens/s and time to first token, and its server's RSS.
--profile runs our app under cProfile (every thread) for the multi_session run and prints the top functions.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT / "tests"))

from scripted_server import Reply, ScriptedServer  # noqa: E402
from streamlit_process import CHROMIUM, CHROMIUM_ARGS, StreamlitProcess  # noqa: E402

KEY = "sk-bench-not-a-real-key"
MODEL = "gpt-4o-mini"
WORD = re.compile(r"\bt\d+w\d{5}\b")
STREAM_GRACE = 60.0  # seconds a long reply may still take to show after its stream's own length
MARK = "t0w00000"  # ends the last stored message of a long chat
TURNS = itertools.count(1)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SECTIONS = ("ttft", "stream", "long_chats", "many_users", "memory", "multi_session", "local_model")


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one benchmark run."""

    runs: int = 5
    stream_runs: int = 3
    chat_runs: int = 3
    crowd_runs: int = 2
    ttft_words: int = 20
    streams: tuple[tuple[int, float], ...] = ((2000, 500.0), (8000, 500.0), (2000, 2000.0))
    chat_sizes: tuple[int, ...] = (20, 1000, 10000)
    crowd: tuple[int, int, float] = (20, 400, 80.0)  # sessions, words, words per second
    multi: tuple[int, int, float] = (10, 400, 80.0)
    local_words: int = 64
    timeout: float = 180.0  # seconds a page may take to show what it waits for

    def with_runs(self, runs: int) -> Plan:
        return replace(self, runs=runs, stream_runs=runs, chat_runs=runs, crowd_runs=runs)


SMOKE = Plan(
    runs=1,
    stream_runs=1,
    chat_runs=1,
    crowd_runs=1,
    ttft_words=5,
    streams=((40, 500.0), (80, 500.0), (40, 2000.0)),
    chat_sizes=(4, 40),
    crowd=(2, 40, 80.0),
    multi=(2, 40, 80.0),
    local_words=8,
    timeout=60.0,
)


# --- figures -------------------------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share in 0..1)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def words_of(turn: int, count: int) -> list[str]:
    return [f"t{turn}w{i:05d}" for i in range(1, count + 1)]


@dataclass
class Stream:
    """One reply: when the server wrote each word and when the page first showed it (wall clock, seconds)."""

    words: list[str]
    server: dict[str, float]
    visible: dict[str, float]

    @property
    def complete(self) -> bool:
        return all(word in self.visible and word in self.server for word in self.words)

    def lag(self, word: str) -> float:
        return self.visible[word] - self.server[word]

    @property
    def measured(self) -> list[str]:
        """The words both sides saw (all of them, unless the observer missed one: sanity() counts those)."""
        return [word for word in self.words if word in self.visible and word in self.server]

    def first_lag(self) -> float:
        return self.lag(self.measured[0])

    def end_lag(self) -> float:
        return self.lag(self.words[-1])

    def max_lag(self) -> float:
        return max(self.lag(word) for word in self.measured)

    def visible_gaps(self) -> list[float]:
        times = sorted(set(self.visible[word] for word in self.measured))
        return [b - a for a, b in itertools.pairwise(times)]

    def server_gaps(self) -> list[float]:
        times = sorted(self.server[word] for word in self.measured)
        return [b - a for a, b in itertools.pairwise(times)]

    def sanity(self) -> dict[str, Any]:
        """Facts a correct measurement has: every word sent was seen, none before the server wrote it."""
        seen = [word for word in self.words if word in self.visible]
        return {
            "words_sent": len([word for word in self.words if word in self.server]),
            "words_seen": len(seen),
            "seen_before_sent": sum(1 for word in seen if word in self.server and self.lag(word) < 0),
        }


def merged_sanity(streams: list[Stream]) -> dict[str, int]:
    total = {"words_sent": 0, "words_seen": 0, "seen_before_sent": 0}
    for stream in streams:
        for key, value in stream.sanity().items():
            total[key] += value
    return total


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# --- processes -----------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """The process's own user + system CPU time (children excluded)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def browser_cpu_seconds() -> float:
    """User + system CPU time of every Chromium process on this machine (the browser, its renderers and GPU
    process): what the pages cost to draw, on the same cores as the app."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, fields = stat.read_text().rsplit(")", 1)
        except OSError:  # the process ended meanwhile
            continue
        if "chrom" in head.rsplit("(", 1)[1]:
            numbers = fields.split()
            total += int(numbers[11]) + int(numbers[12])
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class App(StreamlitProcess):
    """One `streamlit run` process, named ("ours" or "baseline"), optionally under the profiler."""

    def __init__(self, name: str, script: Path, cwd: Path, env: dict[str, str], log: Path, profile: Path | None):
        self.name = name
        runner = (str(BENCH / "profile_streamlit.py"), str(profile)) if profile else ("-m", "streamlit")
        super().__init__(script, cwd, env, log, runner)

    def stop(self, wait: float = 60.0) -> None:
        super().stop(wait)


class Lab:
    """What every section needs: the scripted server, the browser, a temporary folder, where our app lives."""

    def __init__(self, server: ScriptedServer, browser: Any, tmp: Path, app_dir: Path, plan: Plan) -> None:
        self.server = server
        self.browser = browser
        self.tmp = tmp
        self.app_dir = app_dir
        self.plan = plan
        self.profile: Path | None = None
        self._count = itertools.count(1)

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        return env | {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": self.server.base_url, "OPENAI_MODEL": MODEL}

    def ours(self, data_dir: Path | None = None, profile: Path | None = None) -> App:
        number = next(self._count)
        env = self.base_env() | {
            "DATA_DIR": str(data_dir or self.tmp / f"data-{number}"),
            "APP_ENV_FILE": "/nonexistent.env",
            "MCP_CONFIG": str(self.tmp / "absent-mcp.json"),
            "MAX_RETRIES": "0",
            "UI_LANGUAGE": "en",
            "AUTO_TITLE": "off",  # the canonical bot asks for no title: both make the same requests
        }
        log = self.tmp / f"ours-{number}.log"
        return App("ours", self.app_dir / "app.py", self.app_dir, env, log, profile)

    def baseline(self, history: Path | None = None) -> App:
        number = next(self._count)
        env = self.base_env() | ({"BASELINE_HISTORY": str(history)} if history else {})
        log = self.tmp / f"baseline-{number}.log"
        return App("baseline", BENCH / "baseline_app.py", self.app_dir, env, log, None)

    @contextmanager
    def pair(self, profile: Path | None = None) -> Iterator[dict[str, App]]:
        """Ours and the baseline, started side by side."""
        apps = {"ours": self.ours(profile=profile), "baseline": self.baseline()}
        try:
            for app in apps.values():
                app.wait_ready()
            yield apps
        finally:
            for app in apps.values():
                app.stop()


# --- pages ---------------------------------------------------------------------------------------------------

OBSERVER = (BENCH / "observer.js").read_text(encoding="utf-8")


class Session:
    """One browser session (its own context) on an app, with the observer installed."""

    def __init__(self, browser: Any, url: str, timeout: float, wait_for: str | None = None) -> None:
        self.context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.add_init_script(OBSERVER)
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")
        self.timeout = timeout
        self.page.goto(url, wait_until="domcontentloaded")
        if wait_for is not None:
            self.wait_word(wait_for)
        self.box = self.page.get_by_test_id("stChatInputTextArea")
        self.box.wait_for(timeout=timeout * 1000)
        self.offset = self._clock_offset()

    def _clock_offset(self) -> float:
        """The page's clock minus Python's, from the closest of a few round trips."""
        samples = []
        for _ in range(5):
            before = time.time()
            page_now = self.page.evaluate("window.__bench.now()") / 1000
            after = time.time()
            samples.append((after - before, page_now - (before + after) / 2))
        return min(samples)[1]

    def wait_word(self, word: str, timeout: float | None = None) -> None:
        limit = (timeout or self.timeout) * 1000
        try:
            self.page.wait_for_function("w => window.__bench.has(w)", arg=word, polling=50, timeout=limit)
        except PlaywrightTimeout as error:
            seen = len(self.page.evaluate("p => window.__bench.words(p)", word.split("w")[0] + "w"))
            text = self.page.evaluate("() => document.body.innerText.slice(-300)")
            problem = f"{word} never showed ({seen} words of its turn did); the page ends: {text!r}"
            raise RuntimeError(problem) from error

    def wait_idle(self) -> None:
        """The turn is over: the message box takes input again and the last rerun has settled."""
        self.page.wait_for_function(
            "() => { const b = document.querySelector('[data-testid=stChatInputTextArea]'); return b && !b.disabled; }",
            polling=100,
            timeout=self.timeout * 1000,
        )
        self.page.wait_for_timeout(300)

    def visible(self, turn: int) -> dict[str, float]:
        found = self.page.evaluate("p => window.__bench.words(p)", f"t{turn}w")
        return {word: at / 1000 - self.offset for word, at in found.items()}

    def since_origin(self, word: str) -> float:
        """Seconds from the navigation's start to the word first showing."""
        return self.page.evaluate("w => (window.__bench.words(w)[w] - performance.timeOrigin) / 1000", word)

    def last_enter(self) -> float:
        return self.page.evaluate("() => window.__bench.enters().at(-1)") / 1000 - self.offset

    def busy(self) -> dict[str, float]:
        """Seconds the page's main thread spent so far: in tasks, in JavaScript, in style and layout."""
        metrics = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        return {
            "task": metrics.get("TaskDuration", 0.0),
            "script": metrics.get("ScriptDuration", 0.0),
            "layout": metrics.get("LayoutDuration", 0.0) + metrics.get("RecalcStyleDuration", 0.0),
        }

    def close(self) -> None:
        self.context.close()


def server_times(server: ScriptedServer, prompt: str) -> dict[str, float]:
    """When the server wrote each word of the reply to ``prompt``."""
    for record in reversed(server.requests):
        users = [m for m in record.get("body", {}).get("messages", []) if m.get("role") == "user"]
        if record["method"] == "POST" and users and users[-1].get("content") == prompt:
            times: dict[str, float] = {}
            for data, at in zip(record["sent"], record["sent_at"], strict=True):
                for word in WORD.findall(data.decode("utf-8", "replace")):
                    times.setdefault(word, at)
            return times
    return {}


def stream_turns(
    lab: Lab, sessions: list[Session], words: int, rate: float, timeout: float | None = None
) -> list[Stream]:
    """Every session sends a message at once; each is answered ``words`` words at ``rate`` per second and must
    fully show within ``timeout`` seconds (default: the plan's)."""
    turns = [next(TURNS) for _ in sessions]
    prompts = [f"bench turn {turn}" for turn in turns]
    texts = [" ".join(words_of(turn, words)) for turn in turns]
    lab.server.expect(*(Reply(text=t, tokens_per_second=rate, answers=p) for t, p in zip(texts, prompts, strict=True)))
    for session, prompt in zip(sessions, prompts, strict=True):
        session.box.fill(prompt)
    for session in sessions:
        session.box.press("Enter")
    for session, turn in zip(sessions, turns, strict=True):
        session.wait_word(words_of(turn, words)[-1], timeout)
    streams = [
        Stream(words_of(turn, words), server_times(lab.server, prompt), session.visible(turn))
        for session, turn, prompt in zip(sessions, turns, prompts, strict=True)
    ]
    for session, stream in zip(sessions, streams, strict=True):
        missed = [word for word in stream.words if word not in stream.visible]
        if missed:
            shown = session.page.evaluate("() => document.body.innerText")
            print(
                f"    warning: the observer missed {len(missed)} words ({missed[:3]}...); in the page now: "
                f"{sum(word in shown for word in missed)}",
                flush=True,
            )
    return streams


def finished(lab: Lab, sessions: list[Session], words: int, rate: float, timeout: float | None = None) -> list[Stream]:
    """stream_turns, or no streams when a reply did not fully show within the timeout (counted as unfinished)."""
    try:
        return stream_turns(lab, sessions, words, rate, timeout)
    except RuntimeError as error:
        print(f"    unfinished: {error}"[:400], flush=True)
        return []


def settle(sessions: list[Session]) -> None:
    for session in sessions:
        session.wait_idle()


# --- sections ------------------------------------------------------------------------------------------------


def section_ttft(lab: Lab) -> dict[str, Any]:
    figures: dict[str, dict[str, Any]] = {}
    with lab.pair() as apps:
        sessions = {name: Session(lab.browser, app.url, lab.plan.timeout) for name, app in apps.items()}
        streams: dict[str, list[Stream]] = {name: [] for name in apps}
        for _ in range(lab.plan.runs):
            for name, session in sessions.items():
                streams[name] += stream_turns(lab, [session], lab.plan.ttft_words, 500.0)
                settle([session])
        for name, found in streams.items():
            figures[name] = {
                "first_token_overhead_ms": ms(median([s.first_lag() for s in found])),
                "runs": len(found),
                "sanity": merged_sanity(found),
            }
            sessions[name].close()
    return figures


def section_stream(lab: Lab) -> dict[str, Any]:
    figures: dict[str, dict[str, Any]] = {"ours": {}, "baseline": {}}
    with lab.pair() as apps:
        streams: dict[tuple[str, str], list[Stream]] = {}
        page_busy: dict[tuple[str, str], list[dict[str, float]]] = {}
        unfinished: dict[tuple[str, str], int] = {}
        for _ in range(lab.plan.stream_runs):
            for words, rate in lab.plan.streams:
                for name, app in apps.items():
                    print(f"    {name} {words} words at {rate:g}/s", flush=True)
                    session = Session(lab.browser, app.url, lab.plan.timeout)
                    before = session.busy()
                    found = finished(lab, [session], words, rate, timeout=words / rate + STREAM_GRACE)
                    after = session.busy()
                    key = (name, f"{words}@{rate:g}")
                    streams.setdefault(key, []).extend(found)
                    unfinished[key] = unfinished.get(key, 0) + (0 if found else 1)
                    if found:
                        page_busy.setdefault(key, []).append({k: after[k] - before[k] for k in after})
                    session.close()
        for (name, label), found in streams.items():
            busy = page_busy.get((name, label), [])
            figures[name][label] = {
                "end_lag_ms": ms(median([s.end_lag() for s in found])),
                "max_lag_ms": ms(median([s.max_lag() for s in found])),
                "page_task_ms": ms(median([b["task"] for b in busy])),
                "page_script_ms": ms(median([b["script"] for b in busy])),
                "page_style_layout_ms": ms(median([b["layout"] for b in busy])),
                "runs": len(found),
                "unfinished": unfinished[(name, label)],
                "sanity": merged_sanity(found),
            }
    return figures


def long_history(size: int) -> list[dict[str, str]]:
    """``size`` alternating messages of ~40 words; the last one ends with MARK."""
    filler = "a stored message with enough words to look like a real exchange between a person and a model"
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"Message {i}: {filler}; {filler}."}
        for i in range(size)
    ]
    messages[-1]["content"] += f" {MARK}"
    return messages


def seed_ours(lab: Lab, data_dir: Path, size: int, count: int) -> list[str]:
    """``count`` stored chats of ``size`` messages, written by the app's own Store and Conversation."""
    sys.path.insert(0, str(lab.app_dir))
    from conversation_manager import Conversation, Message
    from store import Store

    store = Store(data_dir / "chats.db")
    ids = []
    for _ in range(count):
        conversation = Conversation(title=f"Long chat of {size}")
        for message in long_history(size):
            conversation.append(Message(message["role"], message["content"], model=MODEL))
        store.save(conversation)
        ids.append(conversation.id)
    return ids


def chat_run(lab: Lab, url: str) -> tuple[float, float, Stream] | None:
    """Open a long chat: (page load, one turn's time, the turn's stream); None when it did not finish in time."""
    try:
        session = Session(lab.browser, url, lab.plan.timeout, wait_for=MARK)
    except RuntimeError as error:
        print(f"    unfinished: {error}"[:400], flush=True)
        return None
    try:
        load = session.since_origin(MARK)
        found = finished(lab, [session], lab.plan.ttft_words, 500.0)
        if not found:
            return None
        turn = found[0].visible[found[0].words[-1]] - session.last_enter()
        return load, turn, found[0]
    finally:
        session.close()


def section_long_chats(lab: Lab) -> dict[str, Any]:
    figures: dict[str, dict[str, Any]] = {"ours": {}, "baseline": {}}
    data_dir = lab.tmp / "data-long"
    chats = {size: seed_ours(lab, data_dir, size, lab.plan.chat_runs) for size in lab.plan.chat_sizes}
    ours = lab.ours(data_dir=data_dir).wait_ready()
    try:
        for size in lab.plan.chat_sizes:
            history = lab.tmp / f"history-{size}.json"
            history.write_text(json.dumps(long_history(size)), encoding="utf-8")
            baseline = lab.baseline(history).wait_ready()
            results: dict[str, list[tuple[float, float, Stream] | None]] = {"ours": [], "baseline": []}
            try:
                for run in range(lab.plan.chat_runs):
                    results["ours"].append(chat_run(lab, f"{ours.url}/?chat={chats[size][run]}"))
                    results["baseline"].append(chat_run(lab, baseline.url))
            finally:
                baseline.stop()
            for name, outcomes in results.items():
                found = [outcome for outcome in outcomes if outcome is not None]
                figures[name][str(size)] = {
                    "page_load_ms": ms(median([load for load, _, _ in found])),
                    "turn_ms": ms(median([turn for _, turn, _ in found])),
                    "runs": len(found),
                    "unfinished": len(outcomes) - len(found),
                    "sanity": merged_sanity([stream for _, _, stream in found]),
                }
    finally:
        ours.stop()
    return figures


@contextmanager
def peak_rss(pid: int) -> Iterator[list[float]]:
    """Samples the process's RSS every 50 ms while the block runs; yields [peak] filled in at the end."""
    peak = [rss_mb(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def crowd_run(lab: Lab, app: App, sessions: list[Session], words: int, rate: float) -> tuple[list[Stream], float]:
    """One turn in every session at once: the streams and the app's peak RSS meanwhile."""
    with peak_rss(app.pid) as peak:
        streams = stream_turns(lab, sessions, words, rate)
        settle(sessions)
    return streams, peak[0]


def crowd_figures(streams: list[Stream]) -> dict[str, Any]:
    visible = [gap for s in streams for gap in s.visible_gaps()]
    server = [gap for s in streams for gap in s.server_gaps()]
    return {
        "visible_gap_p50_ms": ms(percentile(visible, 0.5)),
        "visible_gap_p95_ms": ms(percentile(visible, 0.95)),
        "server_gap_p50_ms": ms(percentile(server, 0.5)),
        "server_gap_p95_ms": ms(percentile(server, 0.95)),
        "end_lag_median_ms": ms(median([s.end_lag() for s in streams])),
        "end_lag_max_ms": ms(max((s.end_lag() for s in streams), default=None)),
        "behind_max_ms": ms(max((s.max_lag() for s in streams), default=None)),
        "replies": len(streams),
        "sanity": merged_sanity(streams),
    }


def section_many_users(lab: Lab) -> dict[str, Any]:
    """Returns the many_users figures and, under "memory", the memory figures taken in the same run."""
    sessions_count, words, rate = lab.plan.crowd
    figures: dict[str, dict[str, Any]] = {}
    memory: dict[str, dict[str, Any]] = {}
    with lab.pair() as apps:
        for name, app in apps.items():
            idle = rss_mb(app.pid)
            sessions = [Session(lab.browser, app.url, lab.plan.timeout) for _ in range(sessions_count)]
            opened = rss_mb(app.pid)
            streams, peaks = [], []
            for _ in range(lab.plan.crowd_runs):
                found, peak = crowd_run(lab, app, sessions, words, rate)
                streams += found
                peaks.append(peak)
            for session in sessions:
                session.close()
            figures[name] = crowd_figures(streams) | {"sessions": sessions_count}
            memory[name] = {
                "idle_rss_mb": round(idle, 1),
                "per_open_session_mb": round((opened - idle) / sessions_count, 2),
                "per_streaming_session_mb": round(max(0.0, (peaks[0] - opened)) / sessions_count, 2),
                "peak_rss_mb": round(max(peaks), 1),
                "sessions": sessions_count,
            }
    return {"many_users": figures, "memory": memory}


def multi_figures(
    by_run: list[list[Stream]], cpu: list[float], browser: list[float], replies: int, seconds: float
) -> dict[str, Any]:
    cores = [used / (replies * seconds) for used in cpu]
    streams = [stream for found in by_run for stream in found]
    return {
        "last_token_lag_median_ms": ms(median([s.end_lag() for s in streams])),
        "last_token_lag_median_by_run_ms": {
            str(run): ms(median([s.end_lag() for s in found])) for run, found in enumerate(by_run, 1)
        },
        "last_token_lag_max_ms": ms(max((s.end_lag() for s in streams), default=None)),
        "first_token_lag_median_ms": ms(median([s.first_lag() for s in streams])),
        "cpu_seconds": round(median(cpu) or 0.0, 3),
        "core_per_streaming_reply": round(median(cores) or 0.0, 4),
        "browser_cpu_seconds": round(median(browser) or 0.0, 3),
        "runs": len(cpu),
        "sanity": merged_sanity(streams),
    }


def section_multi_session(lab: Lab) -> dict[str, Any]:
    sessions_count, words, rate = lab.plan.multi
    streams: dict[str, list[list[Stream]]] = {"ours": [], "baseline": []}
    cpu: dict[str, list[float]] = {"ours": [], "baseline": []}
    browser: dict[str, list[float]] = {"ours": [], "baseline": []}
    with lab.pair(profile=lab.profile) as apps:
        sessions = {
            name: [Session(lab.browser, app.url, lab.plan.timeout) for _ in range(sessions_count)]
            for name, app in apps.items()
        }
        for _ in range(lab.plan.runs):
            for name, app in apps.items():
                before, drawn = cpu_seconds(app.pid), browser_cpu_seconds()
                streams[name].append(stream_turns(lab, sessions[name], words, rate))
                settle(sessions[name])
                cpu[name].append(cpu_seconds(app.pid) - before)
                browser[name].append(browser_cpu_seconds() - drawn)
        for group in sessions.values():
            for session in group:
                session.close()
    figures = {
        name: multi_figures(streams[name], cpu[name], browser[name], sessions_count, words / rate) for name in streams
    }
    for found in figures.values():
        found["sessions"] = sessions_count
    figures["ours"]["profiled"] = lab.profile is not None
    return figures


def section_local_model(lab: Lab) -> dict[str, Any]:
    """The embedded model through its own server (the app's LocalModelServer), streamed with the openai SDK."""
    sys.path.insert(0, str(lab.app_dir))
    from config import DEFAULTS
    from local_backend import LocalBackendUnavailable, LocalModelServer, local_spec

    try:
        spec = local_spec(
            None, DEFAULTS["LOCAL_CHAT_FORMAT"], int(DEFAULTS["LOCAL_THREADS"]), int(DEFAULTS["LOCAL_CONTEXT"])
        )
    except LocalBackendUnavailable as error:
        return {"ours": {"skipped": str(error)}}
    server = LocalModelServer(spec)
    try:
        started = time.monotonic()
        base_url = server.ensure_running()
        startup = time.monotonic() - started
        runs = [local_round(base_url, server.api_key, spec.alias, lab.plan.local_words) for _ in range(lab.plan.runs)]
        rss = rss_mb(server._process.pid) if server._process else None  # the bench reads its RSS
    finally:
        server.stop()
    return {
        "ours": {
            "tokens_per_second": round(median([r[1] for r in runs]) or 0.0, 1),
            "ttft_ms": ms(median([r[0] for r in runs])),
            "startup_ms": ms(startup),
            "server_rss_mb": None if rss is None else round(rss, 1),
            "threads": spec.threads,
            "runs": len(runs),
        }
    }


def local_round(base_url: str, key: str, model: str, words: int) -> tuple[float, float]:
    """(time to first token, completion tokens per second after it) of one streamed answer."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    sent = time.monotonic()
    first: float | None = None
    tokens = 0
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Tell me a short story about a lighthouse."}],
        max_tokens=words,
        stream=True,
    )
    for chunk in stream:  # llama.cpp's server streams one token per chunk
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.monotonic()
            tokens += 1
    end = time.monotonic()
    first = first or end
    return first - sent, max(tokens - 1, 0) / max(end - first, 1e-6)


# --- goals and the table -------------------------------------------------------------------------------------


@dataclass
class Goal:
    section: str
    text: str
    met: bool | None  # None: not measured


def stated(app_dir: Path, name: str, fallback: float) -> float:
    """A number the app's code states at the top level of a module (``NAME = 0.05``); ``fallback`` when not found."""
    for path in sorted(app_dir.glob("*.py")):
        found = re.search(rf"^{name}\s*=\s*([0-9.]+)", path.read_text(encoding="utf-8"), re.MULTILINE)
        if found:
            return float(found.group(1))
    return fallback


def flush_interval(app_dir: Path) -> float:
    """The app's flush interval with one reply streaming (FLUSH_INTERVAL), 0.05 s when not found."""
    return stated(app_dir, "FLUSH_INTERVAL", 0.05)


def crowd_interval(app_dir: Path, sessions: int) -> float:
    """The flush interval the app itself paces each of ``sessions`` simultaneous replies at: wider as more stream
    (stream_pacing.flush_interval: every reply an equal share of PROCESS_FLUSHES_PER_SECOND)."""
    per_second = stated(app_dir, "PROCESS_FLUSHES_PER_SECOND", 0.0)
    return max(flush_interval(app_dir), sessions / per_second if per_second else 0.0)


def at_most(value: float | None, limit: float | None) -> bool | None:
    return None if value is None or limit is None else value <= limit


def no_worse_in_any(ours: dict[str, float | None], base: dict[str, float | None]) -> bool | None:
    """Each run's figure at most the baseline's in the same run (None: a run without a figure)."""
    verdicts = [at_most(value, base.get(run)) for run, value in ours.items()]
    return None if not verdicts or None in verdicts else all(verdicts)


def goals(results: dict[str, Any], app_dir: Path, before: dict[str, Any] | None) -> list[Goal]:
    found: list[Goal] = []
    sections = results["sections"]
    rules: dict[str, Callable[[dict[str, Any]], list[Goal]]] = {
        "ttft": goals_ttft,
        "stream": goals_stream,
        "long_chats": goals_long_chats,
        "many_users": lambda figures: goals_many_users(figures, crowd_interval(app_dir, figures["ours"]["sessions"])),
        "multi_session": lambda figures: goals_multi(figures, before),
    }
    for name, rule in rules.items():
        if name in sections and "error" not in sections[name]:
            found += rule(sections[name])
    return found


def goals_ttft(figures: dict[str, Any]) -> list[Goal]:
    ours, base = figures["ours"]["first_token_overhead_ms"], figures["baseline"]["first_token_overhead_ms"]
    return [
        Goal("ttft", "median first-token overhead <= 30 ms", at_most(ours, 30)),
        Goal("ttft", "first-token overhead no worse than the baseline", at_most(ours, base)),
    ]


def goals_stream(figures: dict[str, Any]) -> list[Goal]:
    longest = max(figures["ours"], key=lambda label: int(label.split("@")[0]), default=None)
    lag = figures["ours"][longest]["end_lag_ms"] if longest else None
    return [Goal("stream", f"end lag <= 100 ms at {longest} words/s", at_most(lag, 100))]


def goals_long_chats(figures: dict[str, Any]) -> list[Goal]:
    ours = figures["ours"]
    sizes = sorted(ours, key=int)
    small, large = ours[sizes[0]], ours[sizes[-1]]
    result = []
    for key, label in (("page_load_ms", "loads"), ("turn_ms", "answers")):
        limit = None if small[key] is None else 1.2 * small[key]
        text = f"{sizes[-1]}-message chat {label} within 1.2x of {sizes[0]}"
        result.append(Goal("long_chats", text, at_most(large[key], limit)))
    return result


def goals_many_users(figures: dict[str, Any], flush: float) -> list[Goal]:
    ours = figures["ours"]
    return [
        Goal(
            "many_users",
            f"p95 visible gap <= 2x the app's flush interval for {ours['sessions']} replies ({2000 * flush:g} ms)",
            at_most(ours["visible_gap_p95_ms"], 2000 * flush),
        ),
        Goal("many_users", "no session falls behind by more than 0.5 s", at_most(ours["behind_max_ms"], 500)),
    ]


def goals_multi(figures: dict[str, Any], before: dict[str, Any] | None) -> list[Goal]:
    ours, base = figures["ours"], figures["baseline"]
    earlier = (before or {}).get("sections", {}).get("multi_session", {}).get("ours", {})
    return [
        Goal("multi_session", "core per streaming reply <= 0.05", at_most(ours["core_per_streaming_reply"], 0.05)),
        Goal("multi_session", "last-token lag median <= 0.5 s", at_most(ours["last_token_lag_median_ms"], 500)),
        Goal(
            "multi_session",
            "last-token lag median no worse than the baseline",
            at_most(ours["last_token_lag_median_ms"], base["last_token_lag_median_ms"]),
        ),
        Goal(
            "multi_session",
            "last-token lag median no worse than the baseline in any run",
            no_worse_in_any(ours["last_token_lag_median_by_run_ms"], base["last_token_lag_median_by_run_ms"]),
        ),
        Goal(
            "multi_session",
            "first-token lag no worse than before (bench/results-before.json)",
            at_most(ours["first_token_lag_median_ms"], earlier.get("first_token_lag_median_ms")),
        ),
    ]


def rows(results: dict[str, Any]) -> Iterator[tuple[str, str, Any, Any]]:
    """(section, figure, ours, baseline) for every numeric figure."""
    for section, figures in results["sections"].items():
        if "error" in figures:
            yield section, "FAILED (see results.json)", None, None
        ours, base = figures.get("ours", {}), figures.get("baseline", {})
        for key, value in flatten(ours):
            yield section, key, value, dict(flatten(base)).get(key)


def flatten(figures: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in figures.items():
        if isinstance(value, dict):
            yield from flatten(value, f"{prefix}{key} ")
        else:
            yield f"{prefix}{key}", value


def table(results: dict[str, Any], found: list[Goal]) -> str:
    lines = [f"{'section':<14} {'figure':<44} {'ours':>12} {'baseline':>12}"]
    for section, key, ours, base in rows(results):
        lines.append(f"{section:<14} {key:<44} {fmt(ours):>12} {fmt(base):>12}")
    lines.append("")
    lines.append("goals:")
    verdicts = {True: "met", False: "MISSED", None: "not measured"}
    lines += [f"  [{verdicts[goal.met]:>12}] {goal.section}: {goal.text}" for goal in found]
    return "\n".join(lines)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)


# --- the profiler ------------------------------------------------------------------------------------------


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    if not path.exists():
        print(f"no profile written at {path}")
        return
    stats = pstats.Stats(str(path))
    for order in ("cumulative", "tottime"):
        print(f"\n--- our app under cProfile (every thread), multi_session run, top {top} by {order} ---")
        stats.sort_stats(order).print_stats(top)


# --- main ----------------------------------------------------------------------------------------------------


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit("Debian's chromium is missing: scripts/run-bench.sh installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


RUNNERS: dict[str, Callable[[Lab], dict[str, Any]]] = {
    "ttft": section_ttft,
    "stream": section_stream,
    "long_chats": section_long_chats,
    "multi_session": section_multi_session,
    "local_model": section_local_model,
}


def run_sections(lab: Lab, wanted: list[str]) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    for name in SECTIONS:
        if name not in wanted or name in sections:
            continue
        started = time.monotonic()
        print(f"==> {name}", flush=True)
        try:
            if name in ("many_users", "memory"):
                sections |= section_many_users(lab)
            else:
                sections[name] = RUNNERS[name](lab)
        except (RuntimeError, PlaywrightError) as error:  # one broken section must not lose the others' figures
            print(f"    failed: {error}", flush=True)
            sections[name] = {"error": str(error)[:2000]}
        lab.server.reset()
        print(f"    {time.monotonic() - started:.0f} s", flush=True)
    if "ours" in sections.get("memory", {}) and "ours" in sections.get("local_model", {}):
        sections["memory"]["local_model_server_rss_mb"] = sections["local_model"]["ours"].get("server_rss_mb")
    return {name: sections[name] for name in SECTIONS if name in sections and name in wanted}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, help="runs per figure (default: the plan's)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run: checks the mechanics")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--out", type=Path, default=BENCH / "results.json")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the app to measure (default: this repo)")
    parser.add_argument(
        "--profile",
        nargs="?",
        type=Path,
        const=Path(tempfile.gettempdir()) / "ai-chat-app-profile-multi.prof",
        help="run our app under cProfile for multi_session; write the stats here",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the apps and the browser on the way out
    plan = SMOKE if args.smoke else Plan()
    plan = plan.with_runs(args.runs) if args.runs else plan
    app_dir = args.app_dir.resolve()
    before_path = BENCH / "results-before.json"
    before = json.loads(before_path.read_text()) if before_path.exists() else None
    server = ScriptedServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp, chromium() as browser:
            lab = Lab(server, browser, Path(tmp), app_dir, plan)
            lab.profile = args.profile.resolve() if args.profile else None
            started = time.monotonic()
            sections = run_sections(lab, list(args.only or SECTIONS))
    finally:
        server.stop()
    flush = flush_interval(app_dir)
    results: dict[str, Any] = {
        "meta": {
            "app_dir": str(app_dir),
            "smoke": args.smoke,
            "plan": asdict(plan),
            "flush_interval_s": flush,
            "seconds": round(time.monotonic() - started, 1),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "sections": sections,
    }
    found = goals(results, app_dir, before)
    results["goals"] = [goal.__dict__ for goal in found]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results, found))
    print(f"\nwritten: {args.out}")
    if lab.profile is not None and "multi_session" in sections:
        print_profile(lab.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
