__version__ = "0.0.1"

# The thread policy (`images.WAIT_POLICY`, nbs/00_images.ipynb): GNU OpenMP's threads, which torch's CPU kernels use,
# spin briefly before they sleep, so that a loaded machine's cores go to the threads with work. OpenMP reads this once,
# when torch is first loaded, hence here, before any module of the package can load torch; the environment's own
# GOMP_SPINCOUNT or OMP_WAIT_POLICY stands.
import os as _os
if 'OMP_WAIT_POLICY' not in _os.environ: _os.environ.setdefault('GOMP_SPINCOUNT', '3000')
