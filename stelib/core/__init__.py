"""The model and its numerics: STEs, the two-layer binary network, input laws and labels,
closed forms (Gaussian inputs, the misspecified example), quadrature, Monte Carlo estimates
and batched coarse gradient descent. Imports nothing from ``stelib.analyses`` or
``stelib.tooling``. Import the modules by their short names (``stelib.ste``)."""
