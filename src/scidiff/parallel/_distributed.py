"""Multi-host start-up: a checked wrapper around ``jax.distributed.initialize``."""

from __future__ import annotations

from collections.abc import Sequence

import jax

__all__ = ["initialize"]


def initialize(
    coordinator_address: str,
    num_processes: int,
    process_id: int,
    *,
    local_device_ids: Sequence[int] | None = None,
    cpu_collectives: str | None = "gloo",
    initialization_timeout: int = 300,
) -> None:
    """Join a multi-process JAX run (one process per host, or several on one machine).

    Call once per process, before any other JAX call. Afterwards ``jax.devices()`` lists
    the devices of every process, and the meshes, :func:`sharded_stencil` and
    :func:`shard_ensemble` of this module span all of them.

    Args:
        coordinator_address: ``"host:port"`` of process 0 (e.g. ``"127.0.0.1:12345"``).
        num_processes: total number of processes.
        process_id: this process's rank in ``[0, num_processes)``.
        local_device_ids: restrict this process to these local devices.
        cpu_collectives: collectives backend for CPU devices (``"gloo"``, or ``None`` to
            keep JAX's default); needed for cross-process CPU runs.
        initialization_timeout: seconds to wait for the other processes.

    Raises:
        ValueError: for an inconsistent rank/count or an address without a port.
    """
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise ValueError(f"process_id {process_id} must be in [0, num_processes={num_processes}).")
    host, _, port = coordinator_address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"coordinator_address {coordinator_address!r} must look like 'host:port'.")
    if cpu_collectives is not None:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        initialization_timeout=initialization_timeout,
    )
