"""Who owns which run: runs by unguessable id inside workspaces (one per link), the limits
checked before a run is built, and the reaping of abandoned workspaces.

    reg = RunRegistry(limits=..., backend=LocalBackend(...) | RayBackend(...), observer=None)
    run = reg.create(model_config, train_config, text, owner, label=..., corpus_key=...)
    reg.get(run_id, owner) / runs_of(owner) / active_run(owner) / set_active / remove
    reg.attach(owner) / detach(owner)      # browser sessions viewing a workspace
    reg.reap()                             # frees workspaces nobody viewed for the grace period

Ownership: `owner` is a workspace token that the page URL carries (`?w=...`): a reload, a
second tab or another device with the same link sees and controls the same runs. When the
last browser session viewing a workspace closes, its runs keep going for a grace period,
then they are stopped and freed. The registry knows runs only through the run front
(playground/front.py), whichever backend made them.
"""
from __future__ import annotations

import ctypes
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field, replace

from .config import ModelConfig, TrainConfig
from .encoded import EncodedText, encode
from .front import Backend, RunFront, RunObserver
from .limits import LIMITS, Limits, check
from .scheduler import Scheduler
from .vocab import Vocab, tokenize

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    """The runs one link owns, in the order they were created, and who is looking at them."""
    token: str
    run_ids: list = field(default_factory=list)
    active_run_id: str | None = None
    viewers: int = 0
    left_at: float = field(default_factory=time.time)   # when the last viewer left
    display_name: str = ""                               # what the instructor's Room calls it ("" -> "learner 7")


def vocab_size(text: str, train_config: TrainConfig, vocab: Vocab | None = None) -> int:
    """|V| of the run these would build (the vocab a checkpoint brings, else the text's)."""
    if vocab is not None:
        return len(vocab)
    return len(Vocab(tokenize(text, train_config.tokenizer), min_freq=train_config.min_freq))


class RunRegistry:
    """Runs by unguessable id, grouped in workspaces (one per link); frees abandoned ones."""

    def __init__(self, max_concurrent: int | None = None, limits: Limits | None = None,
                 scheduler: Scheduler | None = None, reap_every: float = 5.0, backend: Backend | None = None,
                 observer: RunObserver | None = None):
        self.limits = limits or LIMITS
        if max_concurrent is not None:
            self.limits = replace(self.limits, max_concurrent=max_concurrent)
        self.scheduler = scheduler or Scheduler(max_workers=self.limits.max_concurrent)
        if backend is None:
            from .run import LocalBackend
            backend = LocalBackend(self.scheduler, self.limits)
        self.backend = backend                 # makes the runs
        self.observer = observer               # told about every run created from now on
        self.runs: dict[str, RunFront] = {}
        self.workspaces: dict[str, Workspace] = {}
        self._lock = threading.RLock()
        self._start_lock = threading.Lock()
        self._reap_every = reap_every
        self._reaper: threading.Thread | None = None

    @property
    def max_concurrent(self) -> int:
        return self.scheduler.max_workers

    # ---- workspaces -------------------------------------------------------------------------
    def has_workspace(self, token: str) -> bool:
        with self._lock:
            return any(secrets.compare_digest(token, t) for t in self.workspaces) if token else False

    def unavailable(self, token: str) -> str | None:
        """Why a link's saved runs are not loaded now (a registry with a run store), or None."""
        return None

    def workspace(self, token: str) -> Workspace:
        with self._lock:
            return self.workspaces.setdefault(token, Workspace(token))

    def attach(self, token: str) -> None:
        """A browser session started viewing this workspace."""
        with self._lock:
            self.workspace(token).viewers += 1

    def detach(self, token: str) -> None:
        """A browser session viewing this workspace closed; the grace period starts at zero viewers."""
        with self._lock:
            ws = self.workspaces.get(token)
            if ws is not None:
                ws.viewers = max(0, ws.viewers - 1)
                if ws.viewers == 0:
                    ws.left_at = time.time()
                    log.info("workspace %s: last viewer left; its %d run(s) are kept for %g min",
                             token[:6], len(ws.run_ids), self.limits.grace_minutes)

    def stored_text(self, text_hash: str) -> str | None:
        """A text runs were trained on, by its sha256 hex, from the run store (none here)."""
        return None

    def set_display_name(self, token: str, name: str) -> None:
        """The name the instructor's Room shows for this workspace (room.clean_display_name'd by the page)."""
        with self._lock:
            self.workspace(token).display_name = name

    def active_run(self, owner: str) -> RunFront | None:
        with self._lock:
            ws = self.workspaces.get(owner)
            return self.get(ws.active_run_id, owner) if ws else None

    def set_active(self, owner: str, run_id: str | None) -> None:
        with self._lock:
            self.workspace(owner).active_run_id = run_id

    # ---- runs -----------------------------------------------------------------------------
    def check(self, model_config: ModelConfig, train_config: TrainConfig, text: str, owner: str,
              vocab: Vocab | None = None) -> EncodedText | None:
        """ValueError with every reason this server will not build the run (nothing but the encoded
        text is built: kept while a run uses it, encoded.py). Returns the encoded text."""
        if len(self.runs_of(owner)) >= self.limits.max_runs_per_learner:
            raise ValueError(f"this link already keeps {self.limits.max_runs_per_learner} runs, the server's "
                             "limit: delete some on the Compare runs page first")
        if not text:
            return                             # the trainer says why
        corpus = encode(text, train_config.tokenizer, train_config.min_freq, vocab)    # its ids count too
        why = check(model_config, train_config, len(corpus.vocab), 1, self.limits, corpus_tokens=len(corpus))
        if why:
            raise ValueError("this server cannot train that: " + "; ".join(why) + ".")
        return corpus

    def create(self, model_config: ModelConfig, train_config: TrainConfig, text: str, owner: str,
               label: str = "", corpus_key: str = "", client: str = "", **trainer_kwargs) -> RunFront:
        """Check the limits, then build the run (config errors raise ValueError) and register it.
        `client`: who makes it (the fair share between people; the link's token if unknown)."""
        corpus = self.check(model_config, train_config, text, owner, trainer_kwargs.get("vocab"))  # noqa: F841 kept for the trainer
        self._start_reaper()
        run = self.backend.make_run(model_config, train_config, text, owner, label, corpus_key,
                                    observer=self.observer, **trainer_kwargs)
        run.client = client or owner
        with self._lock:
            self.runs[run.run_id] = run
            self.workspace(owner).run_ids.append(run.run_id)
        return run

    # ---- starting: a cap per person (client) --------------------------------------------------
    def active_of(self, client: str) -> list[RunFront]:
        """The runs `client` has training or paused now (any link)."""
        with self._lock:
            runs = list(self.runs.values())
        return [r for r in runs if getattr(r, "client", "") == client and r.is_active]

    def check_start(self, client: str, run: RunFront | None = None) -> None:
        """ValueError naming the cap if `client` may not make one more run active now (`run`
        already active is no new one: Step on it is always allowed)."""
        if run is not None and run.is_active:
            return
        cap = self.limits.max_active_per_client
        if len(self.active_of(client)) >= cap:
            raise ValueError(f"you already have {cap} run{'s' if cap != 1 else ''} training or paused, this "
                             f"server's limit of {cap} at once per person (PLAYGROUND_MAX_ACTIVE_PER_CLIENT), "
                             "so that everyone in the room gets a fair share: stop one (or let it finish), "
                             "then start this one")

    def start(self, run: RunFront, steps: int, client: str = "") -> None:
        """`run.start(steps)` for `client` (the run's own if ""), within the cap per person."""
        self._act(run, client, lambda: run.start(steps))

    def step(self, run: RunFront, n: int = 1, client: str = "") -> None:
        """`run.step(n)` for `client`, within the cap per person (Step on an active run always goes)."""
        self._act(run, client, lambda: run.step(n))

    def _act(self, run: RunFront, client: str, action) -> None:
        client = client or getattr(run, "client", "") or run.owner
        with self._start_lock:                 # two quick Starts cannot both pass the cap
            self.check_start(client, run)
            if not run.is_active:
                run.client = client            # its share is the person's who starts it
            action()

    def get(self, run_id: str | None, owner: str | None) -> RunFront | None:
        """The run if it exists and belongs to `owner` (compared in constant time), else None."""
        run = self.runs.get(run_id) if run_id else None
        return run if run is not None and secrets.compare_digest(run.owner, owner or "") else None

    def runs_of(self, owner: str) -> list[RunFront]:
        """The workspace's runs, oldest first."""
        with self._lock:
            ws = self.workspaces.get(owner)
            return [self.runs[r] for r in ws.run_ids if r in self.runs] if ws else []

    def remove(self, run_id: str) -> None:
        with self._lock:
            run = self.runs.pop(run_id, None)
            if run is not None and (ws := self.workspaces.get(run.owner)) is not None:
                ws.run_ids = [r for r in ws.run_ids if r != run_id]
                if ws.active_run_id == run_id:
                    ws.active_run_id = None
        if run is not None:
            run.free()

    def stop_owner(self, owner: str) -> None:
        """Stop and free all of a workspace's runs now."""
        runs = self.runs_of(owner)
        for run in runs:
            self.remove(run.run_id)
        with self._lock:
            self.workspaces.pop(owner, None)
        log.info("workspace %s: stopped and freed %d run(s)", owner[:6], len(runs))
        release_memory()

    def reap(self, now: float | None = None) -> int:
        """Free the workspaces nobody has viewed for the grace period; returns how many."""
        now = time.time() if now is None else now
        grace = self.limits.grace_minutes * 60
        with self._lock:
            gone = [t for t, ws in self.workspaces.items() if ws.viewers == 0 and now - ws.left_at > grace]
        for token in gone:
            self.stop_owner(token)
        return len(gone)

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None:
                return
            self._reaper = threading.Thread(target=self._reap_loop, name="run-reaper", daemon=True)
            self._reaper.start()

    def _reap_loop(self) -> None:
        while True:
            time.sleep(self._reap_every)
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - the reaper must survive anything
                log.exception("reaper failed")


def release_memory() -> None:
    """Give freed memory back to the OS: glibc keeps freed arenas otherwise (RSS grew ~90 MB per
    round of 30 runs although every run was freed)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
