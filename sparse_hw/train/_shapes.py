"""Procedural point clouds of simple solids: the built-in ``synthetic-shapes`` dataset.

Every generator samples points on the surface of one solid whose proportions are drawn at random,
so that a class is a family of shapes, not one template. ``make_cloud`` then centres the cloud,
scales it into the unit sphere (as ModelNet loaders do), applies a random isotropic scale and a
random rotation, and adds clipped Gaussian jitter. Everything draws from one ``numpy`` generator,
so a seed fixes the dataset bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Generator = Callable[[np.random.Generator, int], np.ndarray]


def _mesh(rng: np.random.Generator, n: int, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``n`` points uniformly on a triangle mesh (faces chosen by area, uniform barycentric coordinates)."""
    tri = vertices[faces]  # [F, 3, 3]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    pick = rng.choice(len(faces), size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[pick]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def _split(rng: np.random.Generator, n: int, weights: list[float]) -> np.ndarray:
    """How many of ``n`` points go to each surface part, proportional to its area."""
    w = np.asarray(weights, dtype=float)
    return rng.multinomial(n, w / w.sum())


def _disc_points(rng: np.random.Generator, n: int, radius: float, z: float) -> np.ndarray:
    r = radius * np.sqrt(rng.random(n))
    a = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(a), r * np.sin(a), np.full(n, z)], axis=1)


def sphere(rng: np.random.Generator, n: int) -> np.ndarray:
    p = rng.normal(size=(n, 3))
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def ellipsoid(rng: np.random.Generator, n: int) -> np.ndarray:
    axes = np.array([1.0, rng.uniform(0.35, 0.65), rng.uniform(0.2, 0.45)])
    return sphere(rng, n) * axes


def cube(rng: np.random.Generator, n: int) -> np.ndarray:
    half = np.array([1.0, rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0)])
    axis = rng.integers(0, 3, n)
    p = rng.uniform(-1, 1, (n, 3))
    p[np.arange(n), axis] = rng.choice([-1.0, 1.0], n)
    return p * half


def cylinder(rng: np.random.Generator, n: int) -> np.ndarray:
    r, h = 1.0, rng.uniform(1.2, 2.4)
    side, top, bottom = _split(rng, n, [2 * np.pi * r * h, np.pi * r * r, np.pi * r * r])
    a = rng.uniform(0, 2 * np.pi, side)
    wall = np.stack([r * np.cos(a), r * np.sin(a), rng.uniform(-h / 2, h / 2, side)], axis=1)
    return np.concatenate([wall, _disc_points(rng, top, r, h / 2), _disc_points(rng, bottom, r, -h / 2)])


def cone(rng: np.random.Generator, n: int) -> np.ndarray:
    r, h = 1.0, rng.uniform(1.2, 2.2)
    slant = np.hypot(r, h)
    side, base = _split(rng, n, [np.pi * r * slant, np.pi * r * r])
    t = np.sqrt(rng.random(side))  # uniform on the lateral surface: density grows with the radius
    a = rng.uniform(0, 2 * np.pi, side)
    wall = np.stack([r * t * np.cos(a), r * t * np.sin(a), h / 2 - h * t], axis=1)
    return np.concatenate([wall, _disc_points(rng, base, r, -h / 2)])


def torus(rng: np.random.Generator, n: int) -> np.ndarray:
    big, small = 1.0, rng.uniform(0.2, 0.4)
    # Rejection sampling for uniform area density: accept the tube angle with prob (R + r cos v)/(R + r).
    out = np.empty((0, 3))
    while len(out) < n:
        u, v = rng.uniform(0, 2 * np.pi, (2, 2 * n))
        keep = rng.random(2 * n) < (big + small * np.cos(v)) / (big + small)
        u, v = u[keep], v[keep]
        ring = big + small * np.cos(v)
        out = np.concatenate([out, np.stack([ring * np.cos(u), ring * np.sin(u), small * np.sin(v)], axis=1)])
    return out[:n]


def capsule(rng: np.random.Generator, n: int) -> np.ndarray:
    r, h = rng.uniform(0.35, 0.55), rng.uniform(1.0, 1.6)
    side, caps = _split(rng, n, [2 * np.pi * r * h, 4 * np.pi * r * r])
    a = rng.uniform(0, 2 * np.pi, side)
    wall = np.stack([r * np.cos(a), r * np.sin(a), rng.uniform(-h / 2, h / 2, side)], axis=1)
    ball = sphere(rng, caps) * r
    ball[:, 2] += np.where(ball[:, 2] >= 0, h / 2, -h / 2)
    return np.concatenate([wall, ball])


def disc(rng: np.random.Generator, n: int) -> np.ndarray:
    thickness = rng.uniform(0.02, 0.08)
    p = _disc_points(rng, n, 1.0, 0.0)
    p[:, 2] = rng.uniform(-thickness / 2, thickness / 2, n)
    return p


def helix(rng: np.random.Generator, n: int) -> np.ndarray:
    turns, pitch, tube = rng.uniform(2.0, 3.5), rng.uniform(0.35, 0.6), rng.uniform(0.08, 0.14)
    t = rng.uniform(0, 2 * np.pi * turns, n)
    centre = np.stack([np.cos(t), np.sin(t), pitch * t / (2 * np.pi)], axis=1)
    centre[:, 2] -= pitch * turns / 2
    a = rng.uniform(0, 2 * np.pi, n)
    radial = np.stack([np.cos(t), np.sin(t), np.zeros(n)], axis=1)
    return centre + tube * (np.cos(a)[:, None] * radial + np.sin(a)[:, None] * np.array([0.0, 0.0, 1.0]))


def pyramid(rng: np.random.Generator, n: int) -> np.ndarray:
    h = rng.uniform(1.0, 1.8)
    v = np.array([[-1, -1, -h / 2], [1, -1, -h / 2], [1, 1, -h / 2], [-1, 1, -h / 2], [0, 0, h / 2]], dtype=float)
    f = np.array([[0, 1, 2], [0, 2, 3], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    return _mesh(rng, n, v, f)


def tetrahedron(rng: np.random.Generator, n: int) -> np.ndarray:
    v = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
    v *= np.array([1.0, rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0)])
    return _mesh(rng, n, v, np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]))


def octahedron(rng: np.random.Generator, n: int) -> np.ndarray:
    v = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)
    v[4:] *= rng.uniform(0.9, 1.5)
    f = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [0, 2, 5], [2, 1, 5], [1, 3, 5], [3, 0, 5]])
    return _mesh(rng, n, v, f)


SHAPES: dict[str, Generator] = {
    "sphere": sphere, "cube": cube, "cylinder": cylinder, "cone": cone, "torus": torus, "pyramid": pyramid,
    "ellipsoid": ellipsoid, "capsule": capsule, "disc": disc, "helix": helix, "tetrahedron": tetrahedron,
    "octahedron": octahedron,
}


def _rotation(rng: np.random.Generator, mode: str) -> np.ndarray:
    if mode == "none":
        return np.eye(3)
    if mode == "z":
        a = rng.uniform(0, 2 * np.pi)
        c, s = np.cos(a), np.sin(a)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    # Uniform on SO(3): QR of a Gaussian matrix with the sign fixed (Mezzadri 2007).
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def make_cloud(rng: np.random.Generator, shape: str, n_points: int, *, noise: float, rotation: str,
               scale: tuple[float, float]) -> np.ndarray:
    """One ``[n_points, 3]`` float32 cloud of ``shape``: normalized, scaled, rotated, jittered."""
    p = SHAPES[shape](rng, n_points)
    p = p - p.mean(axis=0)
    p = p / np.linalg.norm(p, axis=1).max()
    p = p * rng.uniform(*scale)
    p = p @ _rotation(rng, rotation).T
    if noise > 0:
        p = p + np.clip(rng.normal(0.0, noise, p.shape), -5 * noise, 5 * noise)
    return p[rng.permutation(n_points)].astype(np.float32)


def make_split(seed: int, split: str, per_class: int, n_points: int, classes: list[str], *, noise: float,
               rotation: str, scale: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` clouds of each class, shuffled: points ``[n, 3, n_points]`` and labels ``[n]``."""
    rng = np.random.default_rng([seed, {"train": 0, "test": 1}[split]])
    labels = np.repeat(np.arange(len(classes)), per_class)
    labels = labels[rng.permutation(len(labels))]
    clouds = np.stack([
        make_cloud(rng, classes[y], n_points, noise=noise, rotation=rotation, scale=scale).T for y in labels
    ]) if len(labels) else np.zeros((0, 3, n_points), np.float32)
    return clouds, labels.astype(np.int64)
