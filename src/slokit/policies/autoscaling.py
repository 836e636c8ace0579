"""Autoscaling rules: Ray Serve's, Knative's KPA, and an SLO-aware one sized by queueing theory.

Each is an :class:`~slokit.policies.scaling.Autoscaler`: asked every ``interval_s`` seconds
with a :class:`~slokit.policies.scaling.ScalingSnapshot` and the time, it names the replica
count (ready + starting) it wants. They keep their own windows and counters and read time only
from their ``now_s`` argument, so the simulator drives them on virtual time and a gateway on
the real clock. Formulas are in each class's docstring and in docs/policies.md.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from slokit.capacity import PLANNABLE_METRICS, min_replicas
from slokit.errors import ConfigError
from slokit.policies.scaling import (
    ScalingSnapshot,
    TimeWindow,
    check_bounds,
    check_non_negative,
    check_positive,
)
from slokit.slo import Objective

# Ray Serve's controller loop period (CONTROL_LOOP_INTERVAL_S), seconds.
RAY_CONTROL_LOOP_S = 0.1
# Knative's autoscaler tick (tickInterval), seconds.
KNATIVE_TICK_S = 2.0


def _periods(delay_s: float, interval_s: float) -> int:
    """Whole control periods in ``delay_s`` (``int(delay / interval)``, float noise ignored)."""
    return int(delay_s / interval_s + 1e-9)


@dataclass(frozen=True, slots=True, kw_only=True)
class RayServeConfig:
    """Ray Serve's ``autoscaling_config`` (defaults of ``num_replicas="auto"``, Ray >= 2.32).

    ``metrics_interval_s``: how often replicas report, so how stale the controller's view is;
    ``look_back_period_s``: the window the reported ongoing requests are averaged over;
    ``interval_s``: the controller's loop period.
    """

    min_replicas: int = 1
    max_replicas: int = 100
    target_ongoing_requests: float = 2.0
    upscale_delay_s: float = 30.0
    downscale_delay_s: float = 600.0
    downscale_to_zero_delay_s: float | None = None
    upscaling_factor: float = 1.0
    downscaling_factor: float = 1.0
    look_back_period_s: float = 30.0
    metrics_interval_s: float = 10.0
    interval_s: float = RAY_CONTROL_LOOP_S

    def __post_init__(self) -> None:
        who = "ray autoscaler"
        check_bounds(self.min_replicas, self.max_replicas, who)
        for name in (
            "target_ongoing_requests",
            "upscaling_factor",
            "downscaling_factor",
            "look_back_period_s",
            "metrics_interval_s",
            "interval_s",
        ):
            check_positive(getattr(self, name), name, who)
        for name in ("upscale_delay_s", "downscale_delay_s"):
            check_non_negative(getattr(self, name), name, who)
        if self.downscale_to_zero_delay_s is not None:
            check_non_negative(self.downscale_to_zero_delay_s, "downscale_to_zero_delay_s", who)


class RayServeAutoscaler:
    """Ray Serve's default policy (``replica_queue_length_autoscaling_policy``).

    Every ``metrics_interval_s`` the controller refreshes ``R``, the mean of the total ongoing
    requests over the last ``look_back_period_s``. Each loop, with ``n`` running replicas::

        raw     = R / target_ongoing_requests              (= n * R / (n * target))
        scaled  = ceil(n + factor * (raw - n))              factor: upscaling or downscaling
        scaled -= 1  if ceil(raw) < n and scaled == n       (a small factor never stalls)
        wanted  = clamp(scaled, min_replicas, max_replicas)

    ``wanted`` is applied only after the same direction was decided in more than
    ``int(upscale_delay_s / interval_s)`` (or ``downscale_delay_s``) consecutive loops; a
    decision the other way, or none, resets the count. Downscaling stops at 1 replica unless
    going from 1 to 0, which waits ``downscale_to_zero_delay_s`` (default: the downscale delay).
    With no running replica and requests waiting it asks for ``max(ceil(upscaling_factor),
    target)`` at once (Ray's cold-start path).
    """

    __slots__ = ("_counter", "_reported", "_reported_s", "_target", "_window", "config")

    def __init__(self, config: RayServeConfig | None = None) -> None:
        self.config = config if config is not None else RayServeConfig()
        self._window = TimeWindow(self.config.look_back_period_s)
        self._reported = 0.0
        self._reported_s = -math.inf
        self._target: int | None = None
        self._counter = 0

    @property
    def interval_s(self) -> float:
        return self.config.interval_s

    def desired_replicas(self, snapshot: ScalingSnapshot, now_s: float) -> int:
        config = self.config
        self._window.record(now_s, snapshot.ongoing_requests)
        if now_s - self._reported_s >= config.metrics_interval_s:
            self._reported, self._reported_s = self._window.mean(), now_s
        if self._target is None:
            self._target = _clamp(snapshot.replicas, config.min_replicas, config.max_replicas)
        running = snapshot.ready_replicas
        if running == 0:
            if snapshot.ongoing_requests > 0:
                wanted = max(math.ceil(config.upscaling_factor), self._target)
                self._target = min(wanted, config.max_replicas)
            self._counter = 0
            return self._target
        raw = self._reported / config.target_ongoing_requests
        delta = raw - running
        factor = config.upscaling_factor if delta > 0 else config.downscaling_factor
        scaled = math.ceil(running + factor * delta)
        if math.ceil(raw) < running and scaled == running:
            scaled -= 1
        wanted = _clamp(scaled, config.min_replicas, config.max_replicas)
        self._target = self._after_delay(wanted, self._target)
        return self._target

    def _after_delay(self, wanted: int, target: int) -> int:
        config = self.config
        if wanted > target:
            self._counter = max(self._counter, 0) + 1
            if self._counter > _periods(config.upscale_delay_s, config.interval_s):
                self._counter = 0
                return wanted
        elif wanted < target:
            self._counter = min(self._counter, 0) - 1
            delay_s = config.downscale_delay_s
            if target == 1 and config.downscale_to_zero_delay_s is not None:
                delay_s = config.downscale_to_zero_delay_s
            elif target > 1:
                wanted = max(1, wanted)
            if self._counter < -_periods(delay_s, config.interval_s):
                self._counter = 0
                return wanted
        else:
            self._counter = 0
        return target


@dataclass(frozen=True, slots=True, kw_only=True)
class KnativeConfig:
    """Knative's KPA settings (``config-autoscaler``), with its defaults.

    The target per replica is ``target_concurrency * target_utilization`` (Knative's
    ``container-concurrency-target-default`` 100 at ``container-concurrency-target-percentage``
    70%). ``min_replicas`` defaults to 1 here; Knative's 0 scales to zero when idle.
    """

    target_concurrency: float = 100.0
    target_utilization: float = 0.7
    stable_window_s: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold_percentage: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_down_delay_s: float = 0.0
    min_replicas: int = 1
    max_replicas: int = 100
    interval_s: float = KNATIVE_TICK_S

    def __post_init__(self) -> None:
        who = "kpa autoscaler"
        check_bounds(self.min_replicas, self.max_replicas, who)
        for name in ("target_concurrency", "stable_window_s", "interval_s"):
            check_positive(getattr(self, name), name, who)
        check_non_negative(self.scale_down_delay_s, "scale_down_delay_s", who)
        if not 0 < self.target_utilization <= 1:
            raise ConfigError(f"{who}: 'target_utilization' must be in (0, 1]")
        if not 1.0 <= self.panic_window_percentage <= 100.0:
            raise ConfigError(f"{who}: 'panic_window_percentage' must be in [1, 100]")
        if not 110.0 <= self.panic_threshold_percentage <= 1000.0:
            raise ConfigError(f"{who}: 'panic_threshold_percentage' must be in [110, 1000]")
        for name in ("max_scale_up_rate", "max_scale_down_rate"):
            if not getattr(self, name) > 1.0:
                raise ConfigError(f"{who}: {name!r} must be > 1")

    @property
    def panic_window_s(self) -> float:
        """``stable_window_s * panic_window_percentage / 100`` (6 s by default)."""
        return self.stable_window_s * self.panic_window_percentage / 100.0

    @property
    def target_per_replica(self) -> float:
        """Concurrency each replica is sized for: ``target_concurrency * target_utilization``."""
        return self.target_concurrency * self.target_utilization


class KnativeAutoscaler:
    """Knative's KPA on concurrency, stable and panic modes.

    With ``r = max(1, ready)``, ``T`` the target per replica and ``S``, ``P`` the mean total
    concurrency over the stable and panic windows::

        stable = clamp(ceil(S / T), floor(r / max_scale_down_rate), ceil(max_scale_up_rate r))
        panic  = clamp(ceil(P / T), same bounds)

    It enters panic mode when ``ceil(P / T) / r >= panic_threshold_percentage / 100`` and stays
    while that holds; it leaves once the threshold has not been crossed for a whole stable
    window. In panic mode it asks for ``max(stable, panic)`` and never less than the most it
    asked for during the panic (no scale-down). A ``scale_down_delay_s`` keeps the largest count
    asked for within that delay. Like Knative it starts in panic mode when created over more
    than one ready replica, so it does not scale down before it has seen a stable window.
    """

    __slots__ = (
        "_delayed",
        "_max_panic",
        "_panic",
        "_panic_since",
        "_stable",
        "_started",
        "config",
    )

    def __init__(self, config: KnativeConfig | None = None) -> None:
        self.config = config if config is not None else KnativeConfig()
        self._stable = TimeWindow(self.config.stable_window_s)
        self._panic = TimeWindow(self.config.panic_window_s)
        self._panic_since: float | None = None
        self._max_panic = 0
        self._delayed: deque[tuple[float, int]] = deque()
        self._started = False

    @property
    def interval_s(self) -> float:
        return self.config.interval_s

    @property
    def panicking(self) -> bool:
        """Whether the last decision was taken in panic mode."""
        return self._panic_since is not None

    def desired_replicas(self, snapshot: ScalingSnapshot, now_s: float) -> int:
        config = self.config
        if not self._started:
            self._started = True
            if snapshot.ready_replicas > 1:
                self._panic_since, self._max_panic = now_s, snapshot.ready_replicas
        self._stable.record(now_s, snapshot.ongoing_requests)
        self._panic.record(now_s, snapshot.ongoing_requests)
        ready = max(1, snapshot.ready_replicas)
        most = math.ceil(config.max_scale_up_rate * ready)
        least = math.floor(ready / config.max_scale_down_rate)
        stable_pods = math.ceil(self._stable.mean() / config.target_per_replica)
        panic_pods = math.ceil(self._panic.mean() / config.target_per_replica)
        stable = min(max(stable_pods, least), most)
        panic = min(max(panic_pods, least), most)
        if panic_pods / ready >= config.panic_threshold_percentage / 100.0:
            self._panic_since = now_s
        elif self._panic_since is not None and now_s - self._panic_since > config.stable_window_s:
            self._panic_since, self._max_panic = None, 0
        wanted = stable
        if self._panic_since is not None:
            self._max_panic = max(self._max_panic, stable, panic)
            wanted = self._max_panic
        if config.scale_down_delay_s > 0:
            wanted = self._delay(wanted, now_s)
        return _clamp(wanted, config.min_replicas, config.max_replicas)

    def _delay(self, wanted: int, now_s: float) -> int:
        delayed = self._delayed
        delayed.append((now_s, wanted))
        while delayed[0][0] <= now_s - self.config.scale_down_delay_s:
            delayed.popleft()
        return max(count for _, count in delayed)


@dataclass(frozen=True, slots=True, kw_only=True)
class SLOScalingConfig:
    """The SLO-aware rule: size for ``objectives`` on ``wait`` or ``e2e`` (percentile or mean).

    ``servers_per_replica``: requests one replica serves at once (a batching server is many
    servers); ``window_s``: how far back arrivals and service times are measured;
    ``headroom``: scale down only to a count that still meets the objectives at
    ``(1 + headroom)`` times the measured rate, after ``downscale_delay_s`` of wanting to;
    ``service_cv``/``arrival_cv``: switch the model to G/G/c (see docs/plan.md).
    """

    objectives: tuple[Objective, ...]
    servers_per_replica: int = 1
    window_s: float = 60.0
    min_replicas: int = 1
    max_replicas: int = 100
    headroom: float = 0.2
    downscale_delay_s: float = 300.0
    interval_s: float = 10.0
    service_cv: float | None = None
    arrival_cv: float | None = None

    def __post_init__(self) -> None:
        who = "slo autoscaler"
        check_bounds(self.min_replicas, self.max_replicas, who)
        for name in ("window_s", "interval_s"):
            check_positive(getattr(self, name), name, who)
        for name in ("headroom", "downscale_delay_s"):
            check_non_negative(getattr(self, name), name, who)
        spr = self.servers_per_replica
        if isinstance(spr, bool) or not isinstance(spr, int) or spr < 1:
            raise ConfigError(f"{who}: 'servers_per_replica' must be an integer >= 1, got {spr!r}")
        if not self.objectives:
            raise ConfigError(f"{who}: give at least one objective, e.g. wait_p99<=2s")
        for objective in self.objectives:
            if objective.metric not in PLANNABLE_METRICS or objective.per_request:
                raise ConfigError(
                    f"{who}: objective {objective} cannot be planned; use a percentile or the "
                    "mean of wait or e2e, e.g. wait_p99<=2s"
                )


class SLOAutoscaler:
    """Replicas from the measured load by queueing theory, with hysteresis.

    Over the last ``window_s``: ``lambda = arrivals / elapsed`` and ``S = service seconds /
    completions`` (the mean time a request holds a server). Little's law gives the offered
    load ``a = lambda S`` busy servers; :func:`slokit.capacity.min_replicas` gives the fewest
    servers ``c`` (from ``floor(a) + 1`` up) whose predicted wait (M/M/c, or G/G/c with CVs)
    meets every objective, and the rule wants ``ceil(c / servers_per_replica)`` replicas.
    Up: at once. Down: only to the count needed at ``lambda (1 + headroom)``, once that has
    stayed below the current count for ``downscale_delay_s``. Before the first completion it
    keeps the current count; with no arrivals it wants ``min_replicas``.
    """

    __slots__ = ("_below_since", "_history", "_service_s", "_target", "config")

    def __init__(self, config: SLOScalingConfig) -> None:
        self.config = config
        self._history: deque[tuple[float, int, int, float]] = deque()
        self._service_s: float | None = None
        self._target: int | None = None
        self._below_since: float | None = None

    @property
    def interval_s(self) -> float:
        return self.config.interval_s

    def replicas_for(self, arrival_rate_per_s: float, service_time_s: float) -> int:
        """Replicas whose predicted wait meets the objectives at this load, within bounds."""
        config = self.config
        if arrival_rate_per_s <= 0:
            return config.min_replicas
        servers_cap = config.max_replicas * config.servers_per_replica
        try:
            servers = min_replicas(
                arrival_rate_per_s,
                service_time_s,
                config.objectives,
                service_cv=config.service_cv,
                arrival_cv=config.arrival_cv,
                max_replicas=servers_cap,
            ).replicas
        except ConfigError:
            # More than max_replicas would be needed (or no count meets the objectives).
            return config.max_replicas
        replicas = -(-servers // config.servers_per_replica)
        return _clamp(replicas, config.min_replicas, config.max_replicas)

    def desired_replicas(self, snapshot: ScalingSnapshot, now_s: float) -> int:
        config = self.config
        if self._target is None:
            self._target = _clamp(snapshot.replicas, config.min_replicas, config.max_replicas)
        rate = self._measure(snapshot, now_s)
        if rate is None or self._service_s is None:
            return self._target
        needed = self.replicas_for(rate, self._service_s)
        if needed >= self._target:
            self._target, self._below_since = needed, None
            return self._target
        relaxed = self.replicas_for(rate * (1.0 + config.headroom), self._service_s)
        if relaxed >= self._target:
            self._below_since = None
        elif self._below_since is None:
            self._below_since = now_s
        if self._below_since is not None and now_s - self._below_since >= config.downscale_delay_s:
            self._target, self._below_since = relaxed, None
        return self._target

    def _measure(self, snapshot: ScalingSnapshot, now_s: float) -> float | None:
        """Arrival rate over the window (``None`` before it spans any time); updates ``S``."""
        history = self._history
        history.append((now_s, snapshot.arrivals, snapshot.completions, snapshot.service_s))
        # Keep one sample at or before the horizon, so the window spans window_s once it can.
        while len(history) > 2 and history[1][0] <= now_s - self.config.window_s:
            history.popleft()
        start_s, arrivals, completions, service_s = history[0]
        done = snapshot.completions - completions
        if done > 0:
            self._service_s = (snapshot.service_s - service_s) / done
        elapsed_s = now_s - start_s
        return (snapshot.arrivals - arrivals) / elapsed_s if elapsed_s > 0 else None


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
