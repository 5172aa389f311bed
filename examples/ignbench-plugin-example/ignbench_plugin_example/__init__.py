"""NAIGN-z: NAIGN whose idempotence term is the one on z alone, without the term on q = f(z) that the NAIGN
supplement (§7) adds. Everything else is NAIGN's: reconstruction, the IMLE term, the unweighted sum."""

from ignbench.methods import Method
from ignbench.methods.objectives import distance, frozen_copy, naign_loss


def terms(f, batch, cfg):
    """rec = d(x, f(x)); imle = d(x_imle, f(z*)); idem = d(f(z), f_copy(f(z))): f_copy frozen, so the gradient
    reaches f through its inner application only (as in IGN's idempotence term)."""
    fz = f(batch.z)
    return {
        "rec": distance(f(batch.x), batch.x, cfg.distance).mean(-1),
        "imle": distance(f(batch.z_star), batch.x_imle, cfg.distance).mean(-1),
        "idem": distance(fz, frozen_copy(f)(fz), cfg.distance).mean(-1),
    }


# grad_passes: f(x), f(z*), f(z), f_copy(f(z)) with gradients flowing back, per sample and step
NAIGN_Z = Method("naign-z", "NAIGN-z", imle=True, terms=terms, loss=naign_loss, grad_passes=4)
