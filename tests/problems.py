"""Timeloop's CNN-Layer problem shape as YAML text, for tests and benchmarks that write tiny problems.

Callers append their own ``instance:`` block (flow or block style, optionally a ``str.format`` template:
the shape itself holds no braces), so each keeps the exact text its assertions edit.
"""

from __future__ import annotations

#: ``problem:`` through the shape's data spaces (version 0.4), ending before ``  instance:``.
CNN_LAYER_SHAPE = """\
problem:
  version: 0.4
  shape:
    name: CNN_Layer
    dimensions: [C, M, R, S, N, P, Q]
    data_spaces:
    - name: Weights
      projection: [[[C]], [[M]], [[R]], [[S]]]
    - name: Inputs
      projection: [[[N]], [[C]], [[R], [P]], [[S], [Q]]]
    - name: Outputs
      projection: [[[N]], [[M]], [[Q]], [[P]]]
      read_write: true
"""
