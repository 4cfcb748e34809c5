"""Multi-device and multi-host helpers: domain decomposition of grids (halo exchange
with ``shard_map`` + ``ppermute``), ensembles sharded over devices, and multi-host
start-up through ``jax.distributed``. Results on N devices equal single-device results."""

from ._boundary import HaloBoundary as HaloBoundary
from ._distributed import initialize as initialize
from ._ensemble import shard_ensemble as shard_ensemble
from ._halo import grid_sharding as grid_sharding
from ._halo import halo_exchange as halo_exchange
from ._halo import sharded_stencil as sharded_stencil
