"""Grain worker processes start in a program that never parsed absl flags, even once a profiler is
loaded (Grain then reads one of its flags; unparsed, that read raised mid-run in the main job)."""

import subprocess
import sys
import textwrap


def test_worker_processes_start_with_unparsed_absl_flags_and_a_loaded_profiler():
    script = textwrap.dedent("""
        import numpy as np
        import grain
        from absl import flags
        from grain._src.core import profiler
        from sarclip_jax.data import batching

        assert not flags.FLAGS.is_parsed()
        profiler._framework, profiler._subprocess_hooks_loaded = "jax", True  # as once JAX's profiler loads
        ds = grain.MapDataset.range(8).map(lambda i: {"x": np.full(2, i)})
        out = [b["x"][:, 0].tolist() for b in batching.batched(ds, 4, drop_remainder=True, workers=1)]
        assert out == [[0, 1, 2, 3], [4, 5, 6, 7]], out
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]
