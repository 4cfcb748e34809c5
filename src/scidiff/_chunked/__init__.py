"""Long runs in chunks: progress bars between chunks, checkpoints to resume from."""

from ._driver import run_chunked as run_chunked
from ._store import CheckpointError as CheckpointError
from ._ode import solve_ivp_chunked as solve_ivp_chunked
from ._ode import solve_sde_chunked as solve_sde_chunked
from ._rollout import rollout_model_chunked as rollout_model_chunked
from ._rollout import run_steps as run_steps
