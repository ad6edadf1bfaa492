"""Energy/area tables (Accelergy's ERT/ART) for any architecture, from data plus small fitted models.

Beside `sparse_hw.spec` and below `sparse_hw.model`: it reads the validated component tree and
writes ERT/ART objects; the engine keeps consuming tables and never learns where a number came from.
"""

from .api import Estimate, estimate, fill_missing, manifest_settings, missing, notes_for
from .compound import Emulation

__all__ = ["Emulation", "Estimate", "estimate", "fill_missing", "manifest_settings", "missing", "notes_for"]
