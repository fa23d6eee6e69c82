"""Static scenes of SynthVAD: camera layouts made of horizontal surface bands, with procedural textures.

A scene is seen by a high, oblique surveillance camera: from top to bottom the frame shows bands of
sky, building facades, sidewalk, a two-lane road, sidewalk or grass (the band sequence depends on the
layout). Pedestrians stand with their feet inside a walkable band (sidewalk, grass) and their body
drawn upwards; cars have their wheels on a lane line. All sizes scale with ``P``, the pedestrian
height in pixels (the camera zoom), so a close-up camera shows fewer, bigger bands.

Textures are cheap numpy value noise (bilinear-interpolated random lattices), tiles, lane markings
and windows, computed once per video; per-frame effects (illumination, sensor noise) are applied by
:mod:`stprompt.synth.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SKY, BUILDING, ROAD, SIDEWALK, GRASS = range(5)
SURFACES: tuple[str, ...] = ("sky", "building", "road", "sidewalk", "grass")
WALKABLE = (SIDEWALK, GRASS)

# Band sequences, top to bottom: (surface, min height, max height in units of P, role).
# "top" bands shrink (down to nothing) when a close-up camera lacks room; "core" bands always show;
# the "rest" band fills the frame to the bottom.
TEMPLATES: dict[str, list[tuple[int, float, float, str]]] = {
    "street": [(SKY, 0.4, 1.2, "top"), (BUILDING, 0.8, 1.8, "top"), (SIDEWALK, 0.8, 1.1, "core"),
               (ROAD, 1.8, 2.1, "core"), (SIDEWALK, 0.8, 1.1, "core"), (GRASS, 0, 0, "rest")],
    "park": [(GRASS, 0.6, 1.8, "top"), (SIDEWALK, 0.8, 1.1, "core"), (ROAD, 1.8, 2.1, "core"),
             (SIDEWALK, 0.8, 1.1, "core"), (GRASS, 0, 0, "rest")],
    "plaza": [(SKY, 0.3, 0.8, "top"), (BUILDING, 0.8, 1.6, "top"), (SIDEWALK, 1.2, 1.9, "core"),
              (ROAD, 1.8, 2.1, "core"), (GRASS, 0, 0, "rest")],
    "field": [(SKY, 0.3, 0.8, "top"), (GRASS, 0.8, 1.6, "top"), (SIDEWALK, 0.8, 1.1, "core"),
              (ROAD, 1.8, 2.1, "core"), (GRASS, 0, 0, "rest")],
}


@dataclass
class Band:
    """Rows ``[y0, y1)`` of the frame covered by one surface."""

    surface: int
    y0: int
    y1: int

    @property
    def name(self) -> str:
        return SURFACES[self.surface]

    @property
    def height(self) -> int:
        return self.y1 - self.y0


@dataclass
class Lane:
    """A road lane: cars' wheels touch row ``y_wheel``; they drive towards ``direction`` (+1 = right)."""

    y_wheel: int
    direction: int


@dataclass
class Scene:
    layout: str
    P: int  # pedestrian height in pixels (camera zoom)
    width: int
    height: int
    bands: list[Band]
    labels: np.ndarray  # (H, W) uint8 surface id per pixel
    lanes: list[Lane]
    background: np.ndarray | None = None  # (H, W, 3) uint8, None when built without textures
    vignette: np.ndarray | None = None  # (H, W) float32 lens fall-off in (0, 1]
    info: dict = field(default_factory=dict)

    def bands_of(self, *surfaces: int) -> list[Band]:
        return [b for b in self.bands if b.surface in surfaces]

    @property
    def road(self) -> Band:
        return self.bands_of(ROAD)[0]

    def surface_at(self, x: float, y: float) -> int:
        xi = int(np.clip(round(x), 0, self.width - 1))
        yi = int(np.clip(round(y), 0, self.height - 1))
        return int(self.labels[yi, xi])


# ------------------------------------------------------------------------------------------------
# Layout geometry
# ------------------------------------------------------------------------------------------------

def layout_bands(rng: np.random.Generator, layout: str, P: int, height: int) -> list[Band]:
    """Band rows for ``layout`` at zoom ``P``: core bands keep their size (shrunk together only when
    they alone would overflow the frame), top bands share what is left, the rest band fills the
    bottom."""
    template = TEMPLATES[layout]
    sizes = [rng.uniform(lo, hi) * P for _, lo, hi, _ in template]
    roles = [role for *_, role in template]
    core = sum(s for s, r in zip(sizes, roles) if r == "core")
    room = 0.88 * height  # keep a little of the frame for the top/rest bands
    if core > room:
        sizes = [s * room / core if r == "core" else s for s, r in zip(sizes, roles)]
        core = room
    top_total = sum(s for s, r in zip(sizes, roles) if r == "top")
    top_room = max(0.0, height - core - 0.1 * height)
    if top_total > top_room:
        sizes = [s * top_room / top_total if r == "top" else s for s, r in zip(sizes, roles)]
    bands, y = [], 0
    for (surface, *_), size, role in zip(template, sizes, roles):
        h = height - y if role == "rest" else int(round(size))
        h = min(h, height - y)
        if h <= 0:
            continue
        bands.append(Band(surface, y, y + h))
        y += h
    if y < height:  # rounding: extend the last band
        bands[-1].y1 = height
    # merge a sliver rest band (< 3 px) into the band above
    if len(bands) > 1 and bands[-1].height < 3:
        bands[-2].y1 = bands[-1].y1
        bands.pop()
    return bands


def _lanes(road: Band, P: int) -> list[Lane]:
    h = road.height
    upper = road.y0 + int(round(0.47 * h))
    lower = road.y0 + int(round(0.95 * h))
    return [Lane(upper, -1), Lane(lower, +1)]


# ------------------------------------------------------------------------------------------------
# Textures
# ------------------------------------------------------------------------------------------------

def value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in [-1, 1]: a random lattice with spacing ``cell`` pixels, bilinearly
    interpolated with a smoothstep (float32, shape (h, w))."""
    cell = max(float(cell), 1.0)
    gh, gw = int(h / cell) + 2, int(w / cell) + 2
    lattice = rng.uniform(-1.0, 1.0, (gh, gw)).astype(np.float32)
    ys = np.arange(h, dtype=np.float32) / cell
    xs = np.arange(w, dtype=np.float32) / cell
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    fy, fx = ys - y0, xs - x0
    fy = fy * fy * (3 - 2 * fy)
    fx = fx * fx * (3 - 2 * fx)
    a = lattice[y0][:, x0]
    b = lattice[y0][:, x0 + 1]
    c = lattice[y0 + 1][:, x0]
    d = lattice[y0 + 1][:, x0 + 1]
    top = a + (b - a) * fx[None, :]
    bottom = c + (d - c) * fx[None, :]
    return top + (bottom - top) * fy[:, None]


def _jitter_color(rng: np.random.Generator, rgb, amount: float) -> np.ndarray:
    return np.clip(np.asarray(rgb, np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def _sky(rng, h, w):
    if rng.random() < 0.65:  # clear
        top, horizon = _jitter_color(rng, (95, 140, 200), 15), _jitter_color(rng, (175, 200, 225), 12)
    else:  # overcast
        top, horizon = _jitter_color(rng, (150, 155, 165), 12), _jitter_color(rng, (200, 202, 208), 8)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = top * (1 - t) + horizon * t
    img = np.broadcast_to(img, (h, w, 3)).copy()
    clouds = value_noise(rng, h, w, rng.uniform(10, 22)) + 0.5 * value_noise(rng, h, w, 5)
    cover = np.clip((clouds - rng.uniform(0.1, 0.6)) * 2.0, 0, 1)[..., None] * 0.8
    return img * (1 - cover) + 235 * cover


_FACADES = [(150, 75, 60), (175, 150, 120), (125, 125, 130), (190, 180, 160), (95, 115, 140),
            (160, 100, 70), (110, 100, 95), (200, 195, 185)]


def _building_blocks(rng, band: Band, width: int, P: int, sky_above: bool) -> list[tuple[int, int, int]]:
    """Facade blocks ``(x0, x1, top row)`` of a building band; tops vary (a skyline) under a sky."""
    blocks, x = [], 0
    min_w = max(12, int(1.5 * P))
    while x < width:
        bw = int(rng.integers(min_w, max(min_w + 1, int(4 * P) + 12)))
        x1 = min(width, x + bw)
        top = band.y0 + (int(rng.uniform(0, 0.45) * band.height) if sky_above else 0)
        blocks.append((x, x1, top))
        x = x1
    return blocks


def _buildings(rng, band: Band, w, P, blocks):
    """Building facades with windows (float32 (h, w, 3)); rows above a block's top are left 0."""
    h = band.height
    img = np.zeros((h, w, 3), np.float32)
    for x, x1, top in blocks:
        top -= band.y0
        color = _jitter_color(rng, _FACADES[rng.integers(len(_FACADES))], 12)
        block = np.broadcast_to(color, (h - top, x1 - x, 3)).copy()
        block += value_noise(rng, h - top, x1 - x, 3)[..., None] * 6
        # windows on a regular grid, a few lit
        ww, wh = max(2, int(round(0.16 * P))), max(2, int(round(0.24 * P)))
        sx, sy = int(ww * rng.uniform(1.9, 2.6)) + 1, int(wh * rng.uniform(1.7, 2.2)) + 1
        glass = _jitter_color(rng, (55, 65, 80), 10)
        lit = _jitter_color(rng, (210, 200, 140), 15)
        for wy in range(2, h - top - wh, sy):
            for wx in range(2, x1 - x - ww - 1, sx):
                block[wy:wy + wh, wx:wx + ww] = lit if rng.random() < 0.12 else glass
        block[:, :1] *= 0.75  # a shaded edge between blocks
        block[:1] = color * 0.6  # roof line
        img[top:, x:x1] = block
    return img


def _road(rng, h, w, P):
    grey = rng.uniform(70, 98)
    img = np.full((h, w, 3), grey, np.float32) + rng.uniform(-4, 4, 3).astype(np.float32)
    img += value_noise(rng, h, w, 8)[..., None] * 7 + rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    # centre dashed line (white or yellow), thin solid edge lines
    mid = int(round(h / 2))
    thick = max(1, int(round(P / 14)))
    paint = np.array((225, 225, 215) if rng.random() < 0.6 else (220, 190, 60), np.float32)
    dash, gap = max(3, int(0.7 * P)), max(3, int(0.6 * P))
    off = int(rng.integers(0, dash + gap))
    xs = (np.arange(w) + off) % (dash + gap) < dash
    img[mid - thick // 2: mid - thick // 2 + thick, xs] = paint
    img[1:2] = img[1:2] * 0.4 + 200 * 0.6
    img[h - 2:h - 1] = img[h - 2:h - 1] * 0.4 + 200 * 0.6
    return img


def _sidewalk(rng, h, w, P):
    base = np.float32((165, 160, 152)) * rng.uniform(0.88, 1.1) + rng.uniform(-4, 4, 3).astype(np.float32)
    tile = max(3, int(round(rng.uniform(0.3, 0.5) * P)))
    ty, tx = np.arange(h)[:, None] // tile, np.arange(w)[None, :] // tile
    shade = rng.uniform(-8, 8, (h // tile + 2, w // tile + 2)).astype(np.float32)
    img = base + shade[ty, tx][..., None]
    grout = ((np.arange(h)[:, None] % tile == 0) | (np.arange(w)[None, :] % tile == 0))
    img = img - grout[..., None] * 22
    img += rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    return img


def _grass(rng, h, w, P):
    base = _jitter_color(rng, (78, 128, 55), 14)
    img = base + value_noise(rng, h, w, max(4, P * 0.8))[..., None] * np.float32((10, 16, 8))
    img += rng.normal(0, 9, (h, w, 1)).astype(np.float32) * np.float32((0.8, 1.0, 0.6))
    # bushes: dark green blobs with a light top
    for _ in range(int(rng.integers(0, 4))):
        r = rng.uniform(0.15, 0.35) * P
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        yy, xx = np.ogrid[:h, :w]
        d = ((yy - cy) / (0.7 * r)) ** 2 + ((xx - cx) / r) ** 2
        blob = np.clip(1.2 - d, 0, 1)[..., None]
        bush = np.float32((40, 85, 35)) + (cy - yy)[..., None] / max(r, 1) * 12
        img = img * (1 - blob) + bush * blob
    return img


def make_scene(rng: np.random.Generator, width: int, height: int, P: int, layout: str,
               textures: bool = True) -> Scene:
    """Build a scene. Geometry (bands, lanes, surface labels) is drawn first, textures after, so a
    scene built with ``textures=False`` (ground truth only) has exactly the same geometry."""
    bands = layout_bands(rng, layout, P, height)
    road = [b for b in bands if b.surface == ROAD][0]
    lanes = _lanes(road, P)
    labels = np.empty((height, width), np.uint8)
    blocks = {}
    for i, b in enumerate(bands):
        labels[b.y0:b.y1] = b.surface
        if b.surface == BUILDING:
            sky_above = i > 0 and bands[i - 1].surface == SKY
            blocks[i] = _building_blocks(rng, b, width, P, sky_above)
            for x0, x1, top in blocks[i]:
                labels[b.y0:top, x0:x1] = SKY
    scene = Scene(layout=layout, P=P, width=width, height=height, bands=bands, labels=labels,
                  lanes=lanes, info={"blocks": blocks})
    if textures:
        tex_rng = np.random.default_rng(rng.integers(2**63))
        paint_scene(tex_rng, scene)
    else:
        rng.integers(2**63)  # keep the stream aligned with a textured build
    return scene


def paint_scene(rng: np.random.Generator, scene: Scene) -> None:
    """Fill ``scene.background`` (and building/sky labels of the skyline) with textures."""
    w, P = scene.width, scene.P
    img = np.empty((scene.height, w, 3), np.float32)
    sky_img = None
    for i, b in enumerate(scene.bands):
        h = b.height
        if b.surface == SKY:
            sky_img = _sky(rng, h, w)
            img[b.y0:b.y1] = sky_img
        elif b.surface == BUILDING:
            img[b.y0:b.y1] = _buildings(rng, b, w, P, scene.info["blocks"][i])
            sky_rows = scene.labels[b.y0:b.y1] == SKY
            if sky_rows.any():  # skyline: the sky's bottom row continues above each roof
                img[b.y0:b.y1][sky_rows] = np.broadcast_to(sky_img[-1], (h, w, 3))[sky_rows]
        elif b.surface == ROAD:
            img[b.y0:b.y1] = _road(rng, h, w, P)
        elif b.surface == SIDEWALK:
            img[b.y0:b.y1] = _sidewalk(rng, h, w, P)
        else:
            img[b.y0:b.y1] = _grass(rng, h, w, P)
    # curbs: a light edge where sidewalk meets road
    for upper, lower in zip(scene.bands, scene.bands[1:]):
        if {upper.surface, lower.surface} == {SIDEWALK, ROAD}:
            y = lower.y0
            img[max(0, y - 1):y + 1] = img[max(0, y - 1):y + 1] * 0.3 + 190 * 0.7
    yy, xx = np.mgrid[:scene.height, :w].astype(np.float32)
    r2 = ((yy - scene.height / 2) / scene.height) ** 2 + ((xx - w / 2) / w) ** 2
    scene.vignette = (1.0 - 0.35 * r2).astype(np.float32)
    scene.background = np.clip(img, 0, 255).astype(np.uint8)
