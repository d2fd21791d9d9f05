"""Predict calories, mass, fat, carbohydrate and protein of a plate of food from one photo, trained on Nutrition5k

Modules:

- `nutrition_predictor.batching`: Requests that arrive together predicted together (`BatchQueue`), large photos in a lane of their own, who is admitted and in which lane (`Admission`), and the one upload pipeline every door uses (`BatchQueue.predict_one`).
- `nutrition_predictor.limits`: What the server reads of a request and keeps of a connection: uploads read as they stream in, stopped at their caps (`read_uploads`); a cap on every request's body and on the bytes one client sends in a minute (`BodyCap`); deadlines for slow connections, and room kept for new ones (`GuardedProtocol`). `05a_serve` puts them around the app."""

__version__ = "0.0.1"

# The thread policy (`images.WAIT_POLICY`, nbs/00_images.ipynb): GNU OpenMP's threads, which torch's CPU kernels use,
# spin briefly before they sleep, so that a loaded machine's cores go to the threads with work. OpenMP reads this once,
# when torch is first loaded, hence here, before any module of the package can load torch; the environment's own
# GOMP_SPINCOUNT or OMP_WAIT_POLICY stands.
import os as _os
if 'OMP_WAIT_POLICY' not in _os.environ: _os.environ.setdefault('GOMP_SPINCOUNT', '3000')
