"""Prometheus metrics of a server (`make_socket_server(..., metrics=True)`,
served at `GET /metrics`; needs the `prometheus-client` package, the
`metrics` extra).

| metric | kind | what |
|---|---|---|
| `durable_effect_connections{room}` | gauge | open sockets |
| `durable_effect_instances{room}` | gauge | instances in memory (not hibernated) |
| `durable_effect_http_requests_total{status}` | counter | HTTP requests answered |
| `durable_effect_upgrades_total{status}` | counter | WebSocket upgrades (101: accepted) |
| `durable_effect_socket_closes_total{code}` | counter | sockets closed, by the client's close code |
| `durable_effect_alarm_lag_seconds` | histogram | how late stored alarms fire |
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from durable_effect.sockets.server.app import SocketServer

__all__ = ["ServerMetrics"]


class ServerMetrics:
    """The metrics of one server, in their own registry."""

    def __init__(self, server: SocketServer) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Histogram
        except ImportError:
            raise ImportError(
                "metrics=True needs the prometheus-client package: install durable-effect with the metrics extra"
            ) from None
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "durable_effect_http_requests", "HTTP requests answered, by status", ["status"], registry=self.registry
        )
        registry = self.registry
        self.upgrades = Counter(
            "durable_effect_upgrades", "WebSocket upgrades, by status (101: accepted)", ["status"], registry=registry
        )
        self.closes = Counter(
            "durable_effect_socket_closes", "Sockets closed, by the client's close code", ["code"], registry=registry
        )
        self.alarm_lag = Histogram(
            "durable_effect_alarm_lag_seconds",
            "How late stored alarms fire",
            buckets=(0.005, 0.05, 0.25, 1.0, 5.0, 30.0, 300.0, float("inf")),
            registry=self.registry,
        )
        self.registry.register(_Live(server))

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _Live:
    """Gauges read from the server when scraped."""

    def __init__(self, server: SocketServer) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        connections = GaugeMetricFamily("durable_effect_connections", "Open sockets, by room", labels=["room"])
        instances = GaugeMetricFamily(
            "durable_effect_instances", "Instances in memory (not hibernated), by room", labels=["room"]
        )
        open_sockets: Tally[str] = Tally()
        for (room, _), host in list(self.server._hosts.items()):
            open_sockets[room] += len(host.sockets())
        live = Tally(room for room, _ in list(self.server._instances))
        for room in sorted(self.server.config.rooms):
            connections.add_metric([room], open_sockets[room])
            instances.add_metric([room], live[room])
        yield connections
        yield instances
        yield from self._engine()

    def _engine(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, SummaryMetricFamily

        stats = self.server.engine.stats
        frames_in = CounterMetricFamily(
            "durable_effect_frames_received", "Frames received from sockets, by room", labels=["room"]
        )
        frames_out = CounterMetricFamily(
            "durable_effect_frames_sent", "Frames sent to sockets (one per recipient), by room", labels=["room"]
        )
        for room in sorted(self.server.config.rooms):
            frames_in.add_metric([room], stats.frames_in[room])
            frames_out.add_metric([room], stats.frames_out[room])
        failures = CounterMetricFamily(
            "durable_effect_handler_failures", "Runs that failed, by room and channel", labels=["room", "channel"]
        )
        for (room, channel), count in sorted(stats.failures.items()):
            failures.add_metric([room, channel], count)
        commits = SummaryMetricFamily(
            "durable_effect_commit_seconds", "Time to commit a run's writes, by room", labels=["room"]
        )
        for room in sorted(stats.commits):
            commits.add_metric([room], count_value=stats.commits[room], sum_value=stats.commit_seconds[room])
        yield frames_in
        yield frames_out
        yield failures
        yield commits
