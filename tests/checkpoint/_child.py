"""Run every checkpointed problem up to its first checkpoint, then hang, to be SIGKILLed.

    python tests/checkpoint/_child.py CHECKPOINT_ROOT

Prints ``ORBAX_AT_IMPORT <bool>`` (whether ``import scidiff`` imported orbax). Each
problem runs in its own thread, one at a time (a lock), into ``CHECKPOINT_ROOT/<kind>``;
once its first checkpoint is on disk the thread prints ``SAVED <kind> <chunks done>``
and blocks for good, and the next problem starts. One process start (imports, orbax)
serves all problems; the parent's SIGKILL interrupts them all mid-run.
"""

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import scidiff  # noqa: E402, F401
import scidiff.kernels  # noqa: E402, F401

print("ORBAX_AT_IMPORT", any(m.startswith("orbax") for m in sys.modules), flush=True)

import _problems  # noqa: E402

from scidiff._chunked._store import CheckpointStore  # noqa: E402

_save = CheckpointStore.save
_turn = threading.Lock()
_local = threading.local()


def save_then_hang(self, chunks_done, *args, **kwargs):
    _save(self, chunks_done, *args, **kwargs)
    print("SAVED", _local.kind, chunks_done, flush=True)
    _turn.release()  # let the next problem run
    while True:  # the parent's SIGKILL ends us here
        time.sleep(60)


def run(kind):
    _turn.acquire()
    _local.kind = kind
    _problems.run(kind, str(Path(sys.argv[1]) / kind))
    print("FINISHED", kind, flush=True)  # never reached when the test works
    _turn.release()


CheckpointStore.save = save_then_hang
for kind in _problems.KINDS:
    threading.Thread(target=run, args=(kind,), daemon=True).start()
while True:
    time.sleep(60)
