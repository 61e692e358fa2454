"""Op families: each module registers its ops (shape rule, kernel, gradient) and exposes the
TF 1.x functions that build them."""
