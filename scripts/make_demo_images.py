#!/usr/bin/env python3
"""Generate the demo images shipped in ``static/demo/``.

Nothing is downloaded: every picture is painted with Pillow from a seeded
random generator, so the output is the same on every run (for a given Pillow
version). The scenes are night-time views of the fictional "Harbour Lights
Festival" in the port city of Vellhaven: harbour with boats and reflections,
fireworks, lantern-lit streets, the main stage, the night market, a Ferris
wheel, floating lanterns, grilled food, and so on. The file names are
referenced by ``samembed/demo/stories.json`` (with alt text describing them),
so keep names and subjects stable when changing a scene.

Usage (from the repository root)::

    .venv/bin/python scripts/make_demo_images.py          # everything
    .venv/bin/python scripts/make_demo_images.py harbour  # only names containing "harbour"

Photos are JPEG (quality 82, optimized, progressive; the quality is stepped
down only if a file would exceed ``MAX_PHOTO_BYTES``), avatars are 256x256 PNG.
"""

from __future__ import annotations

import io
import math
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "static" / "demo"
AVATAR_DIR = OUT / "avatars"

LANDSCAPE = (1280, 853)
PORTRAIT = (853, 1280)
SQUARE = (1080, 1080)
COVER = (1200, 630)
AVATAR = 256

JPEG_QUALITY = 82
MAX_PHOTO_BYTES = 120_000
MAX_AVATAR_BYTES = 15_000

Color = tuple[int, int, int]
Point = tuple[float, float]

WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
WARM_WINDOWS: list[Color] = [(255, 196, 110), (255, 214, 150), (255, 170, 80), (250, 230, 190)]
COOL_WINDOWS: list[Color] = [(190, 220, 255), (230, 240, 255), (160, 200, 230)]
LANTERN_COLORS: list[Color] = [
    (235, 60, 40),
    (250, 140, 30),
    (245, 190, 50),
    (220, 50, 90),
    (240, 90, 40),
    (255, 170, 60),
]
FIREWORK_COLORS: list[Color] = [
    (255, 90, 60),
    (255, 200, 80),
    (120, 200, 255),
    (200, 110, 255),
    (120, 255, 160),
    (255, 120, 200),
    (255, 235, 200),
]
BULB: Color = (255, 215, 140)
HULLS: list[Color] = [
    (220, 220, 228),
    (200, 60, 50),
    (60, 100, 170),
    (240, 235, 220),
    (40, 120, 110),
]


# --------------------------------------------------------------------------- helpers


def clamp(v: float) -> int:
    return max(0, min(255, round(v)))


def mix(a: Sequence[float], b: Sequence[float], t: float) -> Color:
    return (
        clamp(a[0] + (b[0] - a[0]) * t),
        clamp(a[1] + (b[1] - a[1]) * t),
        clamp(a[2] + (b[2] - a[2]) * t),
    )


def scale(c: Sequence[float], k: float) -> Color:
    return (clamp(c[0] * k), clamp(c[1] * k), clamp(c[2] * k))


def smooth(t: float) -> float:
    t = max(0.0, min(1.0, t))
    return t * t * (3 - 2 * t)


def vgradient(size: tuple[int, int], stops: Sequence[tuple[float, Color]]) -> Image.Image:
    """A vertical gradient through ``stops`` (position 0..1, colour)."""
    w, h = size
    column = []
    for y in range(h):
        t = y / max(1, h - 1)
        colour = stops[-1][1]
        for (p0, c0), (p1, c1) in zip(stops, stops[1:], strict=False):
            if t <= p1:
                colour = mix(c0, c1, smooth((t - p0) / (p1 - p0)) if p1 > p0 else 0.0)
                break
        column.append(colour)
    col = Image.new("RGB", (1, h))
    col.putdata(column)
    return col.resize((w, h), Image.Resampling.NEAREST)


def _falloff_mask() -> Image.Image:
    # radial_gradient: 0 at the centre, 181 at the middle of each edge.
    return Image.radial_gradient("L").point(lambda v: clamp(255 * max(0.0, 1 - v / 181) ** 2.2))


FALLOFF = _falloff_mask()
_glow_cache: dict[tuple[int, int, Color], Image.Image] = {}


def glow_sprite(rx: float, ry: float, colour: Color) -> Image.Image:
    key = (max(1, round(rx)), max(1, round(ry)), colour)
    sprite = _glow_cache.get(key)
    if sprite is None:
        mask = FALLOFF.resize((2 * key[0], 2 * key[1]), Image.Resampling.BILINEAR)
        sprite = ImageChops.multiply(
            Image.new("RGB", mask.size, colour), Image.merge("RGB", (mask, mask, mask))
        )
        _glow_cache[key] = sprite
    return sprite


def add_at(layer: Image.Image, sprite: Image.Image, x: float, y: float) -> None:
    """Add ``sprite`` (RGB, black = nothing) to ``layer`` with its corner at (x, y)."""
    x0, y0 = round(x), round(y)
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(layer.width, x0 + sprite.width), min(layer.height, y0 + sprite.height)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    part = sprite.crop((cx0 - x0, cy0 - y0, cx1 - x0, cy1 - y0))
    region = layer.crop((cx0, cy0, cx1, cy1))
    layer.paste(ImageChops.add(region, part), (cx0, cy0))


def catenary(p1: Point, p2: Point, sag: float, n: int) -> list[Point]:
    """Points along a sagging cable from p1 to p2 (parabola, close enough)."""
    pts = []
    for i in range(n + 1):
        t = i / n
        pts.append(
            (p1[0] + (p2[0] - p1[0]) * t, p1[1] + (p2[1] - p1[1]) * t + sag * 4 * t * (1 - t))
        )
    return pts


# --------------------------------------------------------------------------- scene


class Scene:
    """An image plus an additive light layer, painted back to front."""

    def __init__(self, size: tuple[int, int], rng: random.Random) -> None:
        self.w, self.h = size
        self.rng = rng
        self.s = min(size) / 1000
        self.light = Image.new("RGB", size)
        self.set_image(Image.new("RGB", size))

    def set_image(self, img: Image.Image) -> None:
        self.img = img
        self.d = ImageDraw.Draw(img)

    def glow(
        self,
        x: float,
        y: float,
        r: float,
        colour: Color,
        strength: float = 1.0,
        ry: float | None = None,
    ) -> None:
        ry = r if ry is None else ry
        if r < 0.5 or ry < 0.5:
            return
        add_at(self.light, glow_sprite(r, ry, scale(colour, strength)), x - r, y - ry)

    def commit(self) -> None:
        """Screen the light layer into the picture and start a fresh one."""
        self.set_image(ImageChops.screen(self.img, self.light))
        self.light = Image.new("RGB", (self.w, self.h))

    def overlay(self, layer: Image.Image) -> None:
        """Alpha-composite an RGBA layer onto the picture."""
        base = self.img.convert("RGBA")
        base.alpha_composite(layer)
        self.set_image(base.convert("RGB"))

    def rgba(self) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        layer = Image.new("RGBA", (self.w, self.h), (0, 0, 0, 0))
        return layer, ImageDraw.Draw(layer)

    def finish(
        self, *, bloom: int = 205, vignette: float = 0.45, soften: float = 0.6
    ) -> Image.Image:
        self.commit()
        img = apply_bloom(self.img, bloom, self.s)
        if vignette:
            img = apply_vignette(img, vignette)
        if soften:
            img = img.filter(ImageFilter.GaussianBlur(soften))
        return img


def apply_bloom(img: Image.Image, threshold: int, s: float) -> Image.Image:
    r, g, b = img.split()
    peak = ImageChops.lighter(ImageChops.lighter(r, g), b)
    mask = peak.point(
        lambda v: 0 if v < threshold else clamp((v - threshold) / (256 - threshold) * 255)
    )
    bright = ImageChops.multiply(img, Image.merge("RGB", (mask, mask, mask)))
    out = img
    for radius, gain in ((4 * s, 0.9), (18 * s, 0.8), (55 * s, 0.6)):
        halo = bright.filter(ImageFilter.GaussianBlur(radius)).point(lambda v, k=gain: clamp(v * k))
        out = ImageChops.screen(out, halo)
    return out


def apply_vignette(img: Image.Image, strength: float) -> Image.Image:
    m = Image.radial_gradient("L").resize(img.size, Image.Resampling.BILINEAR)
    m = m.point(lambda v: clamp(255 * (1 - strength * (v / 255) ** 2.2)))
    return ImageChops.multiply(img, Image.merge("RGB", (m, m, m)))


# --------------------------------------------------------------------------- building blocks


def stars(sc: Scene, n: int, ymax: float) -> None:
    for _ in range(n):
        x, y = sc.rng.uniform(0, sc.w), sc.rng.uniform(0, ymax) ** 1.0
        k = sc.rng.uniform(0.35, 0.9) * (1 - y / ymax * 0.6)
        r = sc.rng.choice((0.6, 0.8, 1.0, 1.3)) * max(1.0, sc.s)
        sc.d.ellipse([x - r, y - r, x + r, y + r], fill=scale((230, 235, 255), k))


def moon(sc: Scene, x: float, y: float, r: float) -> None:
    sc.glow(x, y, r * 5, (90, 100, 140), 0.5)
    sc.d.ellipse([x - r, y - r, x + r, y + r], fill=(245, 240, 220))
    sc.d.ellipse([x - r * 0.5, y - r * 0.3, x - r * 0.1, y + r * 0.1], fill=(228, 222, 200))
    sc.d.ellipse([x + r * 0.15, y + r * 0.25, x + r * 0.45, y + r * 0.55], fill=(232, 226, 204))


def skyline(
    sc: Scene,
    base_y: float,
    colour: Color,
    hmin: float,
    hmax: float,
    *,
    win_p: float = 0.3,
    win_colors: Sequence[Color] = WARM_WINDOWS,
    win_scale: float = 1.0,
    win_dim: float = 1.0,
    wmin: float = 40,
    wmax: float = 120,
    x0: float = 0,
    x1: float | None = None,
) -> None:
    """A row of building silhouettes standing on ``base_y`` with lit windows."""
    rng, s, d = sc.rng, sc.s, sc.d
    x1 = sc.w if x1 is None else x1
    x = x0 - rng.uniform(0, 40) * s
    while x < x1:
        bw = rng.uniform(wmin, wmax) * s
        bh = rng.uniform(hmin, hmax) * s
        top = base_y - bh
        c = mix(colour, (colour[0] + 25, colour[1] + 25, colour[2] + 35), rng.uniform(0, 0.5))
        d.rectangle([x, top, x + bw, base_y + 2], fill=c)
        roof = rng.random()
        lw = max(1, round(2 * s))
        if roof < 0.14:
            ax, ah = x + bw * rng.uniform(0.3, 0.7), rng.uniform(20, 70) * s
            d.line([(ax, top), (ax, top - ah)], fill=c, width=lw)
            if rng.random() < 0.7:
                d.ellipse(
                    [ax - 1.6 * s, top - ah - 1.6 * s, ax + 1.6 * s, top - ah + 1.6 * s],
                    fill=(255, 70, 60),
                )
                sc.glow(ax, top - ah, 9 * s, (255, 60, 50), 0.7)
        elif roof < 0.3:
            d.polygon(
                [(x, top), (x + bw / 2, top - bw * rng.uniform(0.2, 0.45)), (x + bw, top)], fill=c
            )
        elif roof < 0.42:
            f = rng.uniform(0.15, 0.3)
            d.rectangle(
                [x + bw * f, top - bh * rng.uniform(0.06, 0.18), x + bw * (1 - f), top], fill=c
            )
        elif roof < 0.48:
            d.ellipse([x + bw * 0.15, top - bw * 0.35, x + bw * 0.85, top + bw * 0.35], fill=c)
        elif roof < 0.53:
            sx = x + bw / 2
            d.polygon(
                [
                    (sx - bw * 0.18, top),
                    (sx, top - bh * rng.uniform(0.35, 0.6)),
                    (sx + bw * 0.18, top),
                ],
                fill=c,
            )
        # windows
        ww, wh = 5 * s * win_scale, 7 * s * win_scale
        gx, gy = ww * rng.uniform(1.7, 2.3), wh * rng.uniform(1.6, 2.0)
        p = win_p * rng.uniform(0.2, 1.8)
        wc = rng.choice(win_colors)
        yy = top + wh
        while yy < base_y - wh * 1.5:
            row_p = p * (1.6 if rng.random() < 0.2 else 1.0)
            xx = x + ww
            while xx < x + bw - ww * 1.5:
                if rng.random() < row_p:
                    col = wc if rng.random() < 0.8 else rng.choice(win_colors)
                    d.rectangle(
                        [xx, yy, xx + ww, yy + wh],
                        fill=scale(col, win_dim * rng.uniform(0.55, 1.0)),
                    )
                xx += gx
            yy += gy
        x += bw + rng.uniform(-12, 4) * s


def water(
    sc: Scene,
    y0: float,
    tint: Color = (8, 14, 28),
    keep: float = 0.55,
    streak: float = 10,
    amp: float = 4,
) -> None:
    """Turn everything below ``y0`` into water reflecting what is above it."""
    rng, s = sc.rng, sc.s
    y0 = round(y0)
    depth = sc.h - y0
    top = max(0, y0 - depth)
    src = sc.img.crop((0, top, sc.w, y0)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if src.height < depth:
        src = src.resize((sc.w, depth))
    rippled = Image.new("RGB", (sc.w, depth), tint)
    ph1, ph2 = rng.uniform(0, 6.3), rng.uniform(0, 6.3)
    for y in range(depth):
        k = 1 + 2.5 * y / depth
        off = round(amp * s * k * (math.sin(y * 0.21 / k + ph1) + 0.6 * math.sin(y * 0.057 + ph2)))
        rippled.paste(src.crop((0, y, sc.w, y + 1)), (off, y))
    rippled = rippled.filter(ImageFilter.GaussianBlur((1.2 * s, streak * s)))
    fade = vgradient((sc.w, depth), [(0, (255, 255, 255)), (1, scale((255, 255, 255), 0.55))])
    rippled = ImageChops.multiply(rippled, fade)
    rippled = Image.blend(Image.new("RGB", rippled.size, tint), rippled, keep)
    sc.img.paste(rippled, (0, y0))
    # a few soft ripple lines
    layer, ld = sc.rgba()
    for _ in range(int(28 * depth / 300)):
        yy = y0 + depth * rng.random() ** 1.4
        x = rng.uniform(-100, sc.w)
        ln = rng.uniform(60, 380) * s * (0.4 + (yy - y0) / depth)
        ld.line(
            [(x, yy), (x + ln, yy)],
            fill=(*mix(tint, (120, 140, 170), 0.4), rng.randint(14, 34)),
            width=max(1, round(s * 1.5)),
        )
    sc.overlay(layer.filter(ImageFilter.GaussianBlur(0.8)))


def boat(
    sc: Scene,
    x: float,
    wl: float,
    length: float,
    kind: str,
    colour: Color | None = None,
    bulbs: Sequence[Color] = (BULB,),
    refl: bool = True,
) -> None:
    """A moored boat dressed with lights, with its reflection, waterline at ``wl``."""
    rng, s = sc.rng, sc.s
    L = length
    mast = L * (1.15 if kind == "sail" else 0.75 if kind == "fishing" else 0.35)
    pad = 6
    W, above = round(L * 1.25 + 2 * pad), round(mast + L * 0.1 + pad)
    H = above + round(L * 0.12 + pad)
    sprite = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(sprite)
    ox = pad + L * 0.1
    wy = above  # waterline inside the sprite
    hull_h = L * rng.uniform(0.09, 0.12)
    if colour is None:
        colour = scale(rng.choice(HULLS), rng.uniform(0.35, 0.5))
    hull = (*colour, 255)
    fill = (*mix(colour, (10, 10, 16), 0.55), 255)  # masts, cabins: darker against the sky
    d.polygon(
        [
            (ox, wy - hull_h),
            (ox + L * 1.02, wy - hull_h * 1.25),
            (ox + L * 0.9, wy + L * 0.02),
            (ox + L * 0.1, wy + L * 0.02),
        ],
        fill=hull,
    )
    d.line(
        [(ox, wy - hull_h), (ox + L * 1.02, wy - hull_h * 1.25)],
        fill=(*mix(colour, WHITE, 0.35), 255),
        width=max(1, round(2 * s)),
    )
    d.polygon(
        [
            (ox + L * 0.06, wy - hull_h * 0.3),
            (ox + L * 0.94, wy - hull_h * 0.3),
            (ox + L * 0.9, wy + L * 0.02),
            (ox + L * 0.1, wy + L * 0.02),
        ],
        fill=(*scale(colour, 0.45), 255),
    )
    lights: list[tuple[float, float, Color]] = []
    lw = max(1, round(1.6 * s))
    if kind == "sail":
        mx = ox + L * 0.42
        d.line(
            [(mx, wy - hull_h), (mx, wy - hull_h - mast)], fill=fill, width=max(2, round(2.5 * s))
        )
        d.line(
            [(mx, wy - hull_h - L * 0.12), (ox + L * 0.02, wy - hull_h - L * 0.08)],
            fill=fill,
            width=lw,
        )
        d.rectangle(
            [ox + L * 0.3, wy - hull_h - L * 0.08, ox + L * 0.55, wy - hull_h],
            fill=(*mix(colour, WHITE, 0.15), 255),
        )
        d.line(
            [(mx, wy - hull_h - L * 0.13), (ox + L * 0.04, wy - hull_h - L * 0.09)],
            fill=(*scale((200, 196, 185), 0.45), 255),
            width=max(2, round(5 * s)),
        )
        masthead = (mx, wy - hull_h - mast)
        for end in ((ox + L * 1.02, wy - hull_h * 1.25), (ox - L * 0.02, wy - hull_h)):
            pts = catenary(masthead, end, L * 0.03, 40)
            d.line(pts, fill=(*scale(colour, 1.6), 255), width=1)
            for i, (px, py) in enumerate(pts[2::3]):
                lights.append((px, py, bulbs[i % len(bulbs)]))
        lights.append((masthead[0], masthead[1], WHITE))
    elif kind == "fishing":
        hx = ox + L * 0.22
        d.rectangle(
            [hx, wy - hull_h - L * 0.22, hx + L * 0.26, wy - hull_h + 1],
            fill=(*mix(colour, WHITE, 0.15), 255),
        )
        for i in range(3):
            wx = hx + L * (0.03 + i * 0.08)
            d.rectangle(
                [wx, wy - hull_h - L * 0.18, wx + L * 0.05, wy - hull_h - L * 0.12],
                fill=(*rng.choice(WARM_WINDOWS), 255),
            )
        for mx, mh in ((ox + L * 0.6, mast), (ox + L * 0.12, mast * 0.55)):
            d.line(
                [(mx, wy - hull_h), (mx, wy - hull_h - mh)], fill=fill, width=max(2, round(2.2 * s))
            )
            d.line(
                [(mx, wy - hull_h - mh * 0.75), (mx + L * 0.18, wy - hull_h - mh * 0.35)],
                fill=fill,
                width=lw,
            )
            lights.append((mx, wy - hull_h - mh, WHITE))
        pts = catenary(
            (ox + L * 0.12, wy - hull_h - mast * 0.55),
            (ox + L * 0.6, wy - hull_h - mast),
            L * 0.05,
            30,
        )
        pts += catenary(
            (ox + L * 0.6, wy - hull_h - mast), (ox + L * 1.02, wy - hull_h * 1.25), L * 0.03, 30
        )
        d.line(pts, fill=(*scale(colour, 1.6), 255), width=1)
        for i, (px, py) in enumerate(pts[1::3]):
            lights.append((px, py, bulbs[i % len(bulbs)]))
    else:  # cruiser / ferry
        cabin = (*mix(colour, WHITE, 0.15), 255)
        d.rounded_rectangle(
            [ox + L * 0.18, wy - hull_h - L * 0.16, ox + L * 0.78, wy - hull_h + 1],
            radius=L * 0.03,
            fill=cabin,
        )
        d.rectangle(
            [ox + L * 0.32, wy - hull_h - L * 0.27, ox + L * 0.6, wy - hull_h - L * 0.15],
            fill=cabin,
        )
        n = max(3, round(L / (18 * s)))
        for i in range(n):
            wx = ox + L * 0.22 + i * (L * 0.52 / n)
            if rng.random() < 0.85:
                d.rectangle(
                    [wx, wy - hull_h - L * 0.12, wx + L * 0.52 / n * 0.6, wy - hull_h - L * 0.06],
                    fill=(*rng.choice(WARM_WINDOWS), 255),
                )
        mx = ox + L * 0.5
        d.line([(mx, wy - hull_h - L * 0.27), (mx, wy - hull_h - mast)], fill=fill, width=lw)
        lights.append((mx, wy - hull_h - mast, WHITE))
        for i in range(12):
            t = i / 11
            lights.append(
                (ox + L * (0.05 + 0.92 * t), wy - hull_h * (1.0 + 0.25 * t), bulbs[i % len(bulbs)])
            )
    br = max(1.2, 1.8 * s)
    for px, py, c in lights:
        d.ellipse([px - br, py - br, px + br, py + br], fill=(*mix(c, WHITE, 0.35), 255))
    left = round(x - ox)
    top = round(wl - wy)
    if refl:
        flipped = sprite.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        r, g, b, a = flipped.split()
        a = a.point(lambda v: v * 0.42)
        flipped = Image.merge("RGBA", (r, g, b, a))
        wob = Image.new("RGBA", flipped.size, (0, 0, 0, 0))
        ph = rng.uniform(0, 6)
        for yy in range(flipped.height):
            wob.paste(
                flipped.crop((0, yy, flipped.width, yy + 1)),
                (round(2.5 * s * math.sin(yy * 0.35 + ph)), yy),
            )
        wob = wob.filter(ImageFilter.GaussianBlur((0.8, 2.5 * s)))
        sc.img.paste(wob, (left, round(wl + (wl - top) - H)), wob)
    sc.img.paste(sprite, (left, top), sprite)
    for lx, ly, c in lights:
        ax, ay = left + lx, top + ly
        sc.glow(ax, ay, 9 * s, c, 0.75)
        if refl:
            ry = wl + (wl - ay)
            sc.glow(ax, ry, 4 * s, c, 0.45, ry=16 * s)


def person_params(
    rng: random.Random, x: float, base: float, height: float, arm_p: float = 0.0, full: bool = False
) -> dict:
    """A person seen from behind: a head-and-shoulders bust, or (``full``) a standing figure."""
    hr = height * (0.064 if full else 0.12)
    return {
        "x": x,
        "base": base,
        "hr": hr,
        "hy": base - height + hr * 1.1,
        "sw": hr * rng.uniform(1.9, 2.5) * (0.85 if full else 1.0),
        "full": full,
        "height": height,
        "coat": rng.random() < 0.35,
        "stride": rng.uniform(0.25, 0.9),
        "hair": rng.choice(("none", "none", "bun", "long", "cap", "curly", "beanie", "pony")),
        "arm": rng.choice((-1, 1)) if rng.random() < arm_p else 0,
        "arm_kind": rng.choice(("phone", "phone", "wave", "lantern")),
        "tilt": rng.uniform(-0.25, 0.25),
        "child": rng.random() < 0.05 and height > 60,
    }


def draw_person(
    d: ImageDraw.ImageDraw, p: dict, colour: Color, dx: float = 0, dy: float = 0
) -> Point | None:
    x, base, hr, hy, sw = p["x"] + dx, p["base"] + dy, p["hr"], p["hy"] + dy, p["sw"]
    hx = x + p["tilt"] * hr
    d.ellipse([hx - hr, hy - hr * 1.12, hx + hr, hy + hr * 1.08], fill=colour)
    d.rectangle([x - hr * 0.45, hy + hr * 0.6, x + hr * 0.45, hy + hr * 1.6], fill=colour)
    if p["full"]:
        hip = base - p["height"] * 0.47
        d.rounded_rectangle(
            [x - sw, hy + hr * 1.4, x + sw, hy + hr * 3.2], radius=hr * 0.9, fill=colour
        )
        d.polygon(
            [
                (x - sw * 0.95, hy + hr * 2.2),
                (x + sw * 0.95, hy + hr * 2.2),
                (x + sw * 0.75, hip),
                (x - sw * 0.75, hip),
            ],
            fill=colour,
        )
        for side in (-1, 1):
            d.line(
                [(x + side * sw * 0.85, hy + hr * 2.0), (x + side * sw * 1.0, hip + hr * 0.6)],
                fill=colour,
                width=max(2, round(hr * 0.75)),
            )
            d.line(
                [
                    (x + side * sw * 0.38, hip - hr * 0.3),
                    (x + side * sw * 0.38 * (1 + p["stride"]), base),
                ],
                fill=colour,
                width=max(2, round(hr * 1.15)),
            )
        if p["coat"]:
            d.polygon(
                [
                    (x - sw * 0.8, hip - hr),
                    (x + sw * 0.8, hip - hr),
                    (x + sw * 0.95, hip + (base - hip) * 0.45),
                    (x - sw * 0.95, hip + (base - hip) * 0.45),
                ],
                fill=colour,
            )
    else:
        d.rounded_rectangle(
            [x - sw, hy + hr * 1.4, x + sw, base + hr * 2], radius=hr * 1.1, fill=colour
        )
    hair = p["hair"]
    if hair == "bun":
        d.ellipse([hx - hr * 0.45, hy - hr * 1.65, hx + hr * 0.45, hy - hr * 0.8], fill=colour)
    elif hair == "long":
        d.rounded_rectangle(
            [hx - hr * 1.1, hy - hr * 0.6, hx + hr * 1.1, hy + hr * 2.1],
            radius=hr * 0.6,
            fill=colour,
        )
    elif hair == "cap":
        d.rectangle([hx - hr * 0.2, hy - hr * 0.55, hx + hr * 1.6, hy - hr * 0.35], fill=colour)
    elif hair == "curly":
        for a in range(0, 360, 45):
            cx, cy = (
                hx + math.cos(math.radians(a)) * hr * 0.85,
                hy - hr * 0.2 + math.sin(math.radians(a)) * hr * 0.8,
            )
            d.ellipse([cx - hr * 0.4, cy - hr * 0.4, cx + hr * 0.4, cy + hr * 0.4], fill=colour)
    elif hair == "beanie":
        d.ellipse([hx - hr * 0.3, hy - hr * 1.55, hx + hr * 0.3, hy - hr * 0.95], fill=colour)
    elif hair == "pony":
        d.ellipse([hx + hr * 0.6, hy - hr * 0.3, hx + hr * 1.3, hy + hr * 0.9], fill=colour)
    if p["child"]:
        ch = hr * 0.8
        cy = hy - hr * 2.2
        d.ellipse([hx - ch, cy - ch, hx + ch, cy + ch], fill=colour)
        d.rounded_rectangle(
            [hx - ch * 1.9, cy + ch * 0.9, hx + ch * 1.9, hy], radius=ch, fill=colour
        )
    if p["arm"]:
        side = p["arm"]
        sx, sy = x + side * sw * 0.7, hy + hr * 1.9
        ex, ey = x + side * sw * 1.05, hy - hr * 2.6
        d.line([(sx, sy), (ex, ey)], fill=colour, width=max(2, round(hr * 0.65)))
        if p["arm_kind"] == "phone":
            d.rectangle(
                [ex - hr * 0.42, ey - hr * 0.95, ex + hr * 0.42, ey + hr * 0.15], fill=colour
            )
            return (ex, ey - hr * 0.4)
        d.ellipse([ex - hr * 0.35, ey - hr * 0.45, ex + hr * 0.35, ey + hr * 0.25], fill=colour)
        if p["arm_kind"] == "lantern":
            return (ex, ey - hr * 1.3)
    return None


def crowd(
    sc: Scene,
    y_top: float,
    y_bottom: float,
    count: int,
    h_near: float,
    h_far: float,
    colour: Color,
    *,
    haze: Color | None = None,
    rim: Color | None = None,
    arm_p: float = 0.1,
    x0: float = 0,
    x1: float | None = None,
    full: bool = False,
) -> None:
    """People seen from behind, far rows (small, hazy) first, near rows last."""
    rng, d = sc.rng, sc.d
    x1 = sc.w if x1 is None else x1
    people = []
    for _ in range(count):
        t = rng.random() ** 0.8
        base = y_top + (y_bottom - y_top) * t
        height = h_far + (h_near - h_far) * t
        people.append(
            (
                t,
                person_params(
                    rng,
                    rng.uniform(x0 - 20, x1 + 20),
                    base + (0 if full else height * 0.2),
                    height,
                    arm_p,
                    full,
                ),
            )
        )
    people.sort(key=lambda tp: tp[0])
    for t, p in people:
        c = mix(haze, colour, 0.35 + 0.65 * t) if haze else colour
        if rim:
            draw_person(d, p, mix(rim, c, 0.25 + 0.5 * t), dy=-max(1.5, p["hr"] * 0.12))
        hand = draw_person(d, p, c)
        if hand:
            if p["arm_kind"] == "phone":
                hr = p["hr"]
                d.rectangle(
                    [
                        hand[0] - hr * 0.32,
                        hand[1] - hr * 0.45,
                        hand[0] + hr * 0.32,
                        hand[1] + hr * 0.45,
                    ],
                    fill=(210, 230, 255),
                )
                sc.glow(hand[0], hand[1], hr * 1.8, (150, 180, 230), 0.55)
            elif p["arm_kind"] == "lantern":
                lantern(sc, hand[0], hand[1], p["hr"] * 0.9, rng.choice(LANTERN_COLORS), halo=0.6)


def lantern(
    sc: Scene,
    cx: float,
    cy: float,
    r: float,
    colour: Color,
    *,
    shape: str = "round",
    halo: float = 1.0,
    hang: float = 0.0,
    ribs: int | None = None,
) -> None:
    """A glowing paper lantern centred on (cx, cy), hanging ``hang`` pixels below its cord."""
    d = sc.d
    rx, ry = {"round": (r, r * 0.9), "oval": (r * 0.78, r * 1.15), "tall": (r * 0.62, r * 1.3)}[
        shape
    ]
    dark = scale(colour, 0.25)
    if hang:
        d.line(
            [(cx, cy - ry - hang), (cx, cy - ry)], fill=(20, 16, 16), width=max(1, round(r * 0.05))
        )
    d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=scale(colour, 0.9))
    n = ribs if ribs is not None else (7 if r > 12 else 4 if r > 5 else 0)
    for i in range(1, n + 1):
        yy = cy - ry + 2 * ry * i / (n + 1)
        half = rx * math.sqrt(max(0.0, 1 - ((yy - cy) / ry) ** 2))
        d.line(
            [(cx - half, yy), (cx + half, yy)],
            fill=scale(colour, 0.62),
            width=max(1, round(r * 0.04)),
        )
    cap = max(1.0, r * 0.12)
    d.rectangle(
        [cx - rx * 0.38, cy - ry - cap * 0.6, cx + rx * 0.38, cy - ry + cap * 0.5], fill=dark
    )
    d.rectangle(
        [cx - rx * 0.32, cy + ry - cap * 0.5, cx + rx * 0.32, cy + ry + cap * 0.6], fill=dark
    )
    if r > 8:
        d.line(
            [(cx, cy + ry), (cx, cy + ry + r * 0.45)],
            fill=scale(colour, 0.8),
            width=max(1, round(r * 0.05)),
        )
        d.rectangle(
            [cx - r * 0.05, cy + ry + r * 0.35, cx + r * 0.05, cy + ry + r * 0.6],
            fill=scale(colour, 0.8),
        )
    hot = mix(colour, (255, 245, 215), 0.6)
    sc.glow(cx, cy, rx * 0.95, hot, 0.9, ry=ry * 0.95)
    sc.glow(cx, cy, r * 3.2, colour, 0.5 * halo)
    sc.glow(cx, cy, r * 9, colour, 0.12 * halo)


def lantern_string(
    sc: Scene,
    p1: Point,
    p2: Point,
    sag: float,
    n: int,
    r: float,
    *,
    colours: Sequence[Color] = LANTERN_COLORS,
    shape: str | None = None,
    cord: Color = (18, 14, 14),
    halo: float = 1.0,
) -> list[Point]:
    pts = catenary(p1, p2, sag, 60)
    sc.d.line(pts, fill=cord, width=max(1, round(r * 0.08)))
    spots = catenary(p1, p2, sag, n + 1)[1:-1]
    rng = sc.rng
    out = []
    for i, (x, y) in enumerate(spots):
        drop = r * rng.uniform(0.4, 1.4)
        rr = r * rng.uniform(0.85, 1.15)
        sh = shape or rng.choice(("round", "round", "oval", "tall"))
        ry = rr * {"round": 0.9, "oval": 1.15, "tall": 1.3}[sh]
        lantern(
            sc,
            x,
            y + drop + ry,
            rr,
            colours[(i + rng.randint(0, 1)) % len(colours)],
            shape=sh,
            hang=drop,
            halo=halo,
        )
        out.append((x, y + drop + ry))
    return out


def bulb_string(
    sc: Scene,
    p1: Point,
    p2: Point,
    sag: float,
    spacing: float,
    colour: Color = BULB,
    cord: Color = (20, 18, 18),
) -> None:
    pts = catenary(p1, p2, sag, 60)
    sc.d.line(pts, fill=cord, width=max(1, round(1.5 * sc.s)))
    length = math.dist(p1, p2)
    n = max(2, int(length / spacing))
    br = 2.2 * sc.s
    for x, y in catenary(p1, p2, sag, n)[1:-1]:
        y += br * 1.5
        sc.d.ellipse([x - br, y - br, x + br, y + br], fill=mix(colour, WHITE, 0.5))
        sc.glow(x, y, 10 * sc.s, colour, 0.7)
        sc.glow(x, y, 34 * sc.s, colour, 0.12)


def bokeh(
    sc: Scene,
    n: int,
    region: tuple[float, float, float, float],
    colours: Sequence[Color],
    rmin: float,
    rmax: float,
    strength: float = 0.35,
) -> None:
    rng, s = sc.rng, sc.s
    x0, y0, x1, y1 = region
    for _ in range(n):
        r = rng.uniform(rmin, rmax) * s
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        c = scale(rng.choice(colours), strength * rng.uniform(0.5, 1.1))
        size = round(2 * r + 6)
        disc = Image.new("RGB", (size, size))
        dd = ImageDraw.Draw(disc)
        dd.ellipse([3, 3, size - 3, size - 3], fill=c)
        dd.ellipse(
            [3 + r * 0.1, 3 + r * 0.1, size - 3 - r * 0.1, size - 3 - r * 0.1], fill=scale(c, 0.8)
        )
        disc = disc.filter(ImageFilter.GaussianBlur(max(1.0, r * 0.06)))
        add_at(sc.light, disc, x - size / 2, y - size / 2)


def firework(
    sc: Scene,
    cx: float,
    cy: float,
    R: float,
    colour: Color,
    kind: str = "peony",
    tip: Color | None = None,
    trail: bool = False,
) -> None:
    """A long-exposure firework burst drawn into the light layer."""
    rng, s = sc.rng, sc.s
    d = ImageDraw.Draw(sc.light)
    tip = tip or mix(colour, WHITE, 0.55)
    lw = max(1, round(2.2 * s))
    if trail:
        pts = [
            (cx + math.sin(t * 9) * 3 * s, cy + (sc.h - cy) * (1 - t))
            for t in (i / 40 for i in range(41))
        ]
        d.line(pts[:36], fill=scale((255, 200, 140), 0.35), width=max(1, round(1.5 * s)))
    if kind == "ring":
        n = rng.randint(40, 60)
        for i in range(n):
            a = 2 * math.pi * i / n
            x, y = cx + math.cos(a) * R, cy + math.sin(a) * R * 0.92 + R * 0.06
            for j in range(4):
                k = 0.3 + 0.23 * j
                px, py = (
                    cx + math.cos(a) * R * (0.8 + 0.05 * j),
                    cy + math.sin(a) * R * 0.92 * (0.8 + 0.05 * j) + R * 0.06 * j / 3,
                )
                d.ellipse([px - lw, py - lw, px + lw, py + lw], fill=scale(colour, k))
            d.ellipse([x - lw * 1.3, y - lw * 1.3, x + lw * 1.3, y + lw * 1.3], fill=tip)
        sc.glow(cx, cy, R * 1.2, colour, 0.18)
        return
    if kind == "glitter":
        for _ in range(int(R * 2.2 / s)):
            a, rr = rng.uniform(0, 2 * math.pi), R * math.sqrt(rng.random())
            x, y = cx + math.cos(a) * rr, cy + math.sin(a) * rr + rr * rr / R * 0.2
            r = rng.choice((0.8, 1.0, 1.4)) * s
            d.ellipse([x - r, y - r, x + r, y + r], fill=scale(tip, rng.uniform(0.5, 1)))
        sc.glow(cx, cy, R * 1.3, colour, 0.22)
        return
    n = {
        "peony": rng.randint(48, 72),
        "willow": rng.randint(34, 46),
        "palm": rng.randint(7, 10),
        "chrysanthemum": rng.randint(60, 80),
    }[kind]
    droop = {"peony": 0.12, "willow": 0.75, "palm": 0.35, "chrysanthemum": 0.18}[kind]
    width = lw * (2.2 if kind == "palm" else 1)
    for i in range(n):
        a = 2 * math.pi * i / n + rng.uniform(-0.06, 0.06)
        rr = R * rng.uniform(0.82, 1.05)
        steps = 16
        pts = []
        for j in range(steps + 1):
            t = 0.1 + 0.9 * j / steps
            ext = t if kind != "willow" else t * 0.85
            pts.append(
                (
                    cx + math.cos(a) * rr * ext,
                    cy + math.sin(a) * rr * ext * 0.95 + droop * rr * t * t,
                )
            )
        if kind == "willow":
            # keep drooping after the burst, fading
            lx, ly = pts[-1]
            for j in range(1, 10):
                pts.append((lx + math.cos(a) * rr * 0.02 * j, ly + rr * 0.05 * j))
        for j in range(len(pts) - 1):
            u = j / (len(pts) - 1)
            if kind == "willow":
                k = 0.35 + 0.65 * math.sin(math.pi * min(1.0, u * 1.3))
            else:
                k = 0.2 + 0.8 * u**1.5
            d.line([pts[j], pts[j + 1]], fill=scale(colour, k), width=round(width))
        x, y = pts[-1] if kind != "willow" else pts[steps]
        tr = width * (1.5 if kind == "chrysanthemum" else 1.1)
        d.ellipse([x - tr, y - tr, x + tr, y + tr], fill=tip)
    sc.glow(cx, cy, R * 1.15, colour, 0.22)
    sc.glow(cx, cy, R * 0.35, mix(colour, WHITE, 0.5), 0.35)


def smoke(
    sc: Scene,
    region: tuple[float, float, float, float],
    colour: Color,
    n: int = 10,
    alpha: int = 26,
) -> None:
    rng, s = sc.rng, sc.s
    layer, ld = sc.rgba()
    x0, y0, x1, y1 = region
    for _ in range(n):
        r = rng.uniform(60, 200) * s
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        ld.ellipse(
            [x - r, y - r * 0.6, x + r, y + r * 0.6], fill=(*colour, rng.randint(alpha // 2, alpha))
        )
    sc.overlay(layer.filter(ImageFilter.GaussianBlur(40 * s)))


def night_sky(
    sc: Scene, horizon: float, top: Color, mid: Color, low: Color, n_stars: int = 120
) -> None:
    t = horizon / sc.h
    sc.set_image(vgradient((sc.w, sc.h), [(0, top), (t * 0.55, mid), (t, low), (1, low)]))
    if n_stars:
        stars(sc, n_stars, horizon * 0.7)


# --------------------------------------------------------------------------- scenes

PALETTES = {
    "night": ((4, 6, 22), (20, 22, 60), (88, 50, 90)),
    "violet": ((6, 4, 20), (34, 20, 70), (140, 60, 90)),
    "blue_hour": ((10, 24, 66), (40, 70, 140), (235, 140, 90)),
    "dusk": ((18, 20, 60), (96, 60, 120), (250, 150, 90)),
    "teal": ((2, 12, 22), (12, 40, 64), (60, 90, 110)),
}


def scene_harbour(
    size: tuple[int, int],
    rng: random.Random,
    *,
    palette: str = "night",
    horizon: float = 0.58,
    boats: int = 5,
    fireworks: int = 0,
    moon_at: Point | None = None,
    bridge: bool = False,
    wheel: bool = False,
    front_lanterns: bool = False,
    promenade: bool = False,
) -> Image.Image:
    sc = Scene(size, rng)
    s = sc.s
    hy = sc.h * horizon
    top, mid, low = PALETTES[palette]
    night_sky(sc, hy, top, mid, low, n_stars=0 if palette in ("blue_hour", "dusk") else 140)
    if moon_at:
        moon(sc, sc.w * moon_at[0], sc.h * moon_at[1], 22 * s)
    sc.glow(sc.w * 0.5, hy, sc.w * 0.7, mix(low, (255, 140, 60), 0.4), 0.35, ry=sc.h * 0.22)
    for _ in range(fireworks):
        fx, fy = rng.uniform(0.15, 0.85) * sc.w, rng.uniform(0.12, 0.38) * sc.h
        firework(
            sc,
            fx,
            fy,
            rng.uniform(70, 170) * s,
            rng.choice(FIREWORK_COLORS),
            rng.choice(("peony", "peony", "chrysanthemum", "willow", "ring")),
        )
    if fireworks:
        smoke(sc, (0, sc.h * 0.1, sc.w, hy * 0.9), mix(low, (200, 160, 150), 0.5), n=8)
    far = mix(low, mid, 0.55)
    skyline(sc, hy, scale(far, 0.55), 40, 170, win_p=0.15, win_scale=0.6, win_dim=0.7)
    if wheel:
        ferris_wheel(
            sc, sc.w * rng.uniform(0.65, 0.8), hy - 150 * s, 120 * s, mix((10, 10, 20), far, 0.2)
        )
    skyline(sc, hy, (10, 12, 22), 20, 120, win_p=0.3, wmin=50, wmax=140)
    if bridge:
        swing_bridge(sc, hy, rng.uniform(0.1, 0.4))
    # quay edge with lamp posts
    sc.d.rectangle([0, hy - 6 * s, sc.w, hy + 2], fill=(8, 9, 14))
    x = rng.uniform(0, 60) * s
    while x < sc.w:
        ph = 38 * s
        sc.d.line(
            [(x, hy - 6 * s), (x, hy - 6 * s - ph)], fill=(8, 9, 14), width=max(1, round(2 * s))
        )
        sc.d.ellipse([x - 3 * s, hy - 9 * s - ph, x + 3 * s, hy - 3 * s - ph], fill=(255, 220, 160))
        sc.glow(x, hy - 6 * s - ph, 18 * s, (255, 190, 110), 0.8)
        x += rng.uniform(70, 110) * s
    sc.commit()
    water(sc, hy, tint=scale(mix(top, mid, 0.5), 0.5))
    # boats, far to near
    spots = sorted((rng.uniform(0.02, 0.9) for _ in range(boats)))
    for i, bx in enumerate(spots):
        depth = rng.uniform(0.05, 0.7) if not promenade else rng.uniform(0.05, 0.45)
        wl = hy + (sc.h - hy) * depth
        L = (140 + 420 * depth) * s * rng.uniform(0.8, 1.2)
        bulbs = rng.choice(
            ((BULB,), ((255, 80, 60), BULB, (90, 170, 255)), ((255, 200, 90), (255, 120, 60)))
        )
        kind = ("sail", "fishing", "cruiser")[(i + rng.randint(0, 2)) % 3]
        boat(sc, bx * sc.w, wl, L, kind, bulbs=bulbs)
    if promenade:
        py = sc.h * 0.86
        sc.d.rectangle([0, py, sc.w, sc.h], fill=(12, 11, 14))
        sc.d.rectangle([0, py, sc.w, py + 5 * s], fill=(40, 34, 34))
        crowd(
            sc, py + 10 * s, sc.h, 16, 220 * s, 170 * s, (6, 6, 9), rim=(110, 90, 120), arm_p=0.25
        )
    if front_lanterns:
        lantern_string(
            sc, (-20, sc.h * 0.04), (sc.w + 20, sc.h * 0.1), sc.h * 0.14, 9, 30 * s, halo=0.8
        )
    return sc.finish(bloom=200)


def swing_bridge(sc: Scene, hy: float, x_frac: float) -> None:
    s, d = sc.s, sc.d
    x0 = sc.w * x_frac
    span = sc.w * 0.45
    deck = hy - 26 * s
    col = (9, 10, 16)
    d.rectangle([x0, deck, x0 + span, deck + 8 * s], fill=col)
    for px in (x0 + span * 0.02, x0 + span * 0.98):
        d.rectangle([px - 6 * s, deck - 70 * s, px + 6 * s, hy], fill=col)
    pts = catenary((x0 + span * 0.02, deck - 70 * s), (x0 + span * 0.98, deck - 70 * s), 62 * s, 40)
    d.line(pts, fill=col, width=max(2, round(3 * s)))
    for i, (x, y) in enumerate(pts):
        if 0 < i < len(pts) - 1 and i % 2 == 0:
            d.line([(x, y), (x, deck)], fill=col, width=1)
        sc.glow(x, y, 6 * s, (150, 200, 255), 0.6)
        if i % 3 == 0:
            sc.glow(x, deck + 4 * s, 8 * s, (255, 200, 120), 0.7)


def ferris_wheel(
    sc: Scene, cx: float, cy: float, R: float, col: Color, colours: Sequence[Color] | None = None
) -> None:
    s, d, rng = sc.s, sc.d, sc.rng
    colours = colours or [(255, 90, 160), (120, 200, 255), (255, 210, 90)]
    base = cy + R * 1.35
    lw = max(1, round(3 * s))
    for side in (-1, 1):
        d.line([(cx, cy), (cx + side * R * 0.55, base)], fill=col, width=max(2, round(6 * s)))
    d.line([(cx - R * 0.7, base), (cx + R * 0.7, base)], fill=col, width=max(2, round(5 * s)))
    n = 16
    ph = rng.uniform(0, 1)
    for i in range(n):
        a = 2 * math.pi * (i + ph) / n
        ex, ey = cx + math.cos(a) * R, cy + math.sin(a) * R
        d.line([(cx, cy), (ex, ey)], fill=col, width=max(1, round(1.5 * s)))
        c = colours[i % len(colours)]
        for t in (0.35, 0.55, 0.75):
            sc.glow(cx + (ex - cx) * t, cy + (ey - cy) * t, 5 * s, c, 0.65)
        gw = R * 0.09
        d.rounded_rectangle(
            [ex - gw, ey + 2 * s, ex + gw, ey + gw * 1.6], radius=gw * 0.3, fill=col
        )
        sc.glow(ex, ey + gw, gw * 1.6, (255, 200, 130), 0.35)
    d.ellipse([cx - R, cy - R, cx + R, cy + R], outline=col, width=lw)
    d.ellipse(
        [cx - R * 0.93, cy - R * 0.93, cx + R * 0.93, cy + R * 0.93],
        outline=col,
        width=max(1, lw // 2),
    )
    for i in range(64):
        a = 2 * math.pi * i / 64
        x, y = cx + math.cos(a) * R, cy + math.sin(a) * R
        c = colours[(i // 4) % len(colours)]
        d.ellipse([x - 1.8 * s, y - 1.8 * s, x + 1.8 * s, y + 1.8 * s], fill=mix(c, WHITE, 0.5))
        sc.glow(x, y, 9 * s, c, 0.7)
    d.ellipse([cx - 8 * s, cy - 8 * s, cx + 8 * s, cy + 8 * s], fill=col)
    sc.glow(cx, cy, 14 * s, WHITE, 0.6)


def scene_fireworks(
    size: tuple[int, int],
    rng: random.Random,
    *,
    bursts: int = 5,
    kinds: Sequence[str] = ("peony", "chrysanthemum", "willow", "ring", "palm", "glitter"),
    water_at: float | None = 0.7,
    crowd_rows: bool = False,
    palette: str = "night",
    skyline_at: float = 0.7,
    boats: int = 0,
    colours: Sequence[Color] = FIREWORK_COLORS,
) -> Image.Image:
    sc = Scene(size, rng)
    s = sc.s
    hy = sc.h * skyline_at
    top, mid, low = PALETTES[palette]
    night_sky(sc, hy, top, scale(mid, 0.8), scale(low, 0.75), n_stars=40)
    smoke_col = (90, 80, 90)
    for i in range(bursts):
        fx = sc.w * (0.12 + 0.76 * (i + rng.uniform(0.1, 0.9)) / bursts)
        fy = sc.h * rng.uniform(0.12, skyline_at * 0.55)
        R = rng.uniform(0.13, 0.26) * min(sc.w, sc.h * 1.3)
        c = rng.choice(colours)
        tip = rng.choice((None, None, rng.choice(FIREWORK_COLORS)))
        firework(sc, fx, fy, R, c, rng.choice(kinds), tip=tip, trail=rng.random() < 0.5)
    smoke(sc, (0, sc.h * 0.05, sc.w, hy), smoke_col, n=12, alpha=30)
    sc.commit()
    skyline(sc, hy, (8, 9, 16), 25, 150, win_p=0.18, wmin=45, wmax=130)
    if water_at is not None:
        sc.d.rectangle([0, hy - 4 * s, sc.w, hy + 2], fill=(8, 9, 14))
        sc.commit()
        water(sc, hy + 2, tint=(6, 8, 18), keep=0.6, streak=14)
        for _ in range(boats):
            depth = rng.uniform(0.1, 0.6)
            boat(
                sc,
                rng.uniform(0.05, 0.85) * sc.w,
                hy + (sc.h - hy) * depth,
                (120 + 300 * depth) * s,
                rng.choice(("sail", "cruiser", "fishing")),
            )
    else:
        sc.d.rectangle([0, hy, sc.w, sc.h], fill=(8, 9, 14))
    if crowd_rows:
        crowd(
            sc,
            sc.h * 0.8,
            sc.h,
            26,
            300 * s,
            140 * s,
            (5, 5, 8),
            haze=(40, 34, 50),
            rim=(120, 90, 110),
            arm_p=0.35,
        )
    return sc.finish(bloom=190, vignette=0.35)


def street_geometry(sc: Scene, vx: float, vy: float):
    xl0, xr0 = -0.08 * sc.w, 1.08 * sc.w
    g0 = 1.2 * sc.h

    def x_left(z: float) -> float:
        return vx + (xl0 - vx) / z

    def x_right(z: float) -> float:
        return vx + (xr0 - vx) / z

    def y_at(y0: float, z: float) -> float:
        return vy + (y0 - vy) / z

    return x_left, x_right, y_at, g0


def scene_street(
    size: tuple[int, int],
    rng: random.Random,
    *,
    strings: int = 7,
    people: int = 60,
    parade: bool = False,
    wall: Color = (26, 20, 24),
    palette: str = "night",
    bulbs: bool = False,
) -> Image.Image:
    """A narrow old-town street in perspective, strung with lanterns overhead."""
    sc = Scene(size, rng)
    s, d = sc.s, sc.d
    vx, vy = sc.w * rng.uniform(0.42, 0.58), sc.h * 0.47
    x_left, x_right, y_at, g0 = street_geometry(sc, vx, vy)
    top, mid, low = PALETTES[palette]
    sc.set_image(vgradient((sc.w, sc.h), [(0, top), (0.35, mid), (0.5, low), (1, (30, 20, 20))]))
    d = sc.d
    stars(sc, 30, sc.h * 0.25)
    zmax = 14.0
    # end of the street: a facade facing us
    fl, fr = x_left(zmax), x_right(zmax)
    d.rectangle([fl - 2, y_at(-0.1 * sc.h, zmax), fr + 2, y_at(g0, zmax)], fill=mix(wall, low, 0.5))
    # ground
    d.polygon(
        [
            (x_left(1), y_at(g0, 1)),
            (x_left(zmax), y_at(g0, zmax)),
            (x_right(zmax), y_at(g0, zmax)),
            (x_right(1), y_at(g0, 1)),
        ],
        fill=(34, 26, 26),
    )
    ground = vgradient((sc.w, sc.h), [(0, (0, 0, 0)), (vy / sc.h, (90, 60, 45)), (1, (20, 16, 18))])
    mask = Image.new("L", (sc.w, sc.h))
    ImageDraw.Draw(mask).polygon(
        [
            (x_left(1), y_at(g0, 1)),
            (x_left(zmax), y_at(g0, zmax)),
            (x_right(zmax), y_at(g0, zmax)),
            (x_right(1), y_at(g0, 1)),
        ],
        fill=255,
    )
    sc.img.paste(ground, (0, 0), mask)
    # the two walls, as a series of buildings of differing height
    for side in (-1, 1):
        xf = x_left if side < 0 else x_right
        z = 1.0
        while z < zmax:
            z2 = min(zmax, z * rng.uniform(1.18, 1.45))
            roof = rng.uniform(-0.45, -0.05) * sc.h
            c = mix(wall, (70, 50, 50), rng.uniform(0, 0.35))
            d.polygon(
                [
                    (xf(z), y_at(roof, z)),
                    (xf(z2), y_at(roof, z2)),
                    (xf(z2), y_at(g0, z2)),
                    (xf(z), y_at(g0, z)),
                ],
                fill=c,
            )
            # shopfront at street level
            if rng.random() < 0.75:
                za, zb = z + (z2 - z) * 0.15, z + (z2 - z) * 0.8
                shop = rng.choice(WARM_WINDOWS)
                ys, ye = 0.72 * sc.h, g0 - 0.02 * sc.h
                d.polygon(
                    [
                        (xf(za), y_at(ys, za)),
                        (xf(zb), y_at(ys, zb)),
                        (xf(zb), y_at(ye, zb)),
                        (xf(za), y_at(ye, za)),
                    ],
                    fill=scale(shop, 0.85),
                )
                mx, my = (xf(za) + xf(zb)) / 2, (y_at(ys, za) + y_at(ye, zb)) / 2
                sc.glow(mx, my, abs(xf(za) - xf(zb)) * 1.2, shop, 0.25)
                # awning
                ya = ys - 0.03 * sc.h
                d.polygon(
                    [
                        (xf(za), y_at(ya, za)),
                        (xf(zb), y_at(ya, zb)),
                        (xf(zb) - side * 22 * s / zb, y_at(ys, zb)),
                        (xf(za) - side * 22 * s / za, y_at(ys, za)),
                    ],
                    fill=rng.choice(((120, 30, 30), (30, 70, 60), (140, 90, 30))),
                )
            # windows above
            rows = rng.randint(2, 4)
            for r_i in range(rows):
                wy0 = 0.66 * sc.h - (r_i + 1) * 0.2 * sc.h
                if wy0 - 0.09 * sc.h < roof:
                    break
                cols = max(1, round((z2 - z) / z * 3))
                for c_i in range(cols):
                    za = z + (z2 - z) * (c_i + 0.25) / cols
                    zb = z + (z2 - z) * (c_i + 0.65) / cols
                    lit = rng.random() < 0.45
                    wc = (
                        scale(rng.choice(WARM_WINDOWS), rng.uniform(0.5, 0.95))
                        if lit
                        else mix(c, (0, 0, 0), 0.5)
                    )
                    d.polygon(
                        [
                            (xf(za), y_at(wy0 - 0.09 * sc.h, za)),
                            (xf(zb), y_at(wy0 - 0.09 * sc.h, zb)),
                            (xf(zb), y_at(wy0, zb)),
                            (xf(za), y_at(wy0, za)),
                        ],
                        fill=wc,
                    )
            z = z2
    # lanterns across the street, far to near
    zs = sorted(
        (1.25 * (zmax / 1.25) ** (i / max(1, strings - 1)) for i in range(strings)), reverse=True
    )
    for z in zs:
        yh = rng.uniform(0.02, 0.18) * sc.h
        p1, p2 = (
            (x_left(z), y_at(yh, z)),
            (x_right(z), y_at(yh + rng.uniform(-0.05, 0.05) * sc.h, z)),
        )
        if bulbs and rng.random() < 0.5:
            bulb_string(sc, p1, p2, 0.1 * sc.h / z, 30 * s / z**0.5)
            continue
        pal = rng.choice(
            (
                LANTERN_COLORS,
                [(235, 60, 40)],
                [(250, 140, 30), (245, 190, 50)],
                [(220, 50, 90), (240, 90, 40)],
            )
        )
        spots = lantern_string(
            sc,
            p1,
            p2,
            0.12 * sc.h / z,
            max(5, round(rng.uniform(7, 11))),
            34 * s / z,
            colours=pal,
            halo=0.9,
        )
        for x, y in spots:
            gy = y_at(g0, z)
            sc.glow(x, gy + (gy - y) * 0.9, 26 * s / z, (250, 150, 70), 0.3, ry=90 * s / z)
    if parade:
        parade_float(sc, vx + rng.uniform(-0.08, 0.08) * sc.w, y_at(g0, 2.6), 2.6, vy)
    # people
    folk = []
    for _ in range(people):
        z = 1.6 * (zmax * 0.8 / 1.6) ** rng.random()
        gy = y_at(g0, z)
        hgt = (gy - vy) * rng.uniform(0.58, 0.72)  # camera held up high: heads below the horizon
        xa, xb = x_left(z) + 20 * s / z, x_right(z) - 20 * s / z
        if parade and z < 4:
            xa, xb = (
                (xa, vx - 0.16 * sc.w / z) if rng.random() < 0.5 else (vx + 0.16 * sc.w / z, xb)
            )
        folk.append(
            (
                z,
                person_params(
                    rng, rng.uniform(xa, xb), gy, hgt, arm_p=0.15 if parade else 0.06, full=True
                ),
            )
        )
    folk.sort(key=lambda zp: -zp[0])
    for z, p in folk:
        k = min(1.0, (z - 1) / (zmax * 0.8))
        c = mix((8, 6, 8), (70, 48, 44), k)
        draw_person(sc.d, p, mix((200, 120, 70), c, 0.45), dy=-max(1.0, p["hr"] * 0.1))
        hand = draw_person(sc.d, p, c)
        if hand and p["arm_kind"] == "phone":
            sc.d.rectangle(
                [
                    hand[0] - p["hr"] * 0.3,
                    hand[1] - p["hr"] * 0.4,
                    hand[0] + p["hr"] * 0.3,
                    hand[1] + p["hr"] * 0.4,
                ],
                fill=(210, 230, 255),
            )
            sc.glow(hand[0], hand[1], p["hr"] * 1.6, (150, 180, 230), 0.5)
        elif hand:
            lantern(sc, hand[0], hand[1], p["hr"] * 0.9, rng.choice(LANTERN_COLORS), halo=0.5)
    return sc.finish(bloom=200, vignette=0.5)


def parade_float(sc: Scene, cx: float, ground: float, z: float, vy: float) -> None:
    """A giant glowing fish lantern carried on poles, high above the heads."""
    s, d, rng = sc.s, sc.d, sc.rng
    L = 0.55 * sc.w / z * 1.6
    cy = min(ground - L * 0.75, ground - 0.8 * (ground - vy) - 0.3 * L)
    body = (255, 150, 60)
    poles = [cx - L * 0.3, cx, cx + L * 0.25]
    for px in poles:
        d.line([(px, cy), (px, ground - L * 0.12)], fill=(20, 14, 12), width=max(2, round(4 * s)))
    # tail
    tx = cx - L * 0.5
    d.polygon(
        [
            (tx + L * 0.08, cy),
            (tx - L * 0.2, cy - L * 0.22),
            (tx - L * 0.12, cy),
            (tx - L * 0.2, cy + L * 0.2),
        ],
        fill=scale(body, 0.85),
    )
    d.ellipse([cx - L * 0.5, cy - L * 0.2, cx + L * 0.5, cy + L * 0.2], fill=scale(body, 0.9))
    # fins and scales
    d.polygon(
        [
            (cx - L * 0.1, cy - L * 0.18),
            (cx + L * 0.05, cy - L * 0.34),
            (cx + L * 0.15, cy - L * 0.17),
        ],
        fill=scale((250, 90, 50), 0.9),
    )
    d.polygon(
        [(cx, cy + L * 0.17), (cx + L * 0.1, cy + L * 0.3), (cx + L * 0.18, cy + L * 0.15)],
        fill=scale((250, 90, 50), 0.9),
    )
    for i in range(7):
        ax = cx - L * 0.32 + i * L * 0.09
        d.arc(
            [ax - L * 0.06, cy - L * 0.15, ax + L * 0.06, cy + L * 0.15],
            300,
            60,
            fill=scale(body, 0.6),
            width=max(1, round(2 * s)),
        )
    ex = cx + L * 0.33
    d.ellipse([ex - L * 0.035, cy - L * 0.07, ex + L * 0.035, cy], fill=(30, 20, 40))
    sc.glow(cx, cy, L * 0.45, (255, 230, 170), 0.75, ry=L * 0.17)
    sc.glow(cx, cy, L * 1.0, body, 0.4, ry=L * 0.55)
    gy = ground
    sc.glow(cx, gy + L * 0.1, L * 0.6, body, 0.25, ry=L * 0.15)
    # bearers
    for px in poles:
        p = person_params(rng, px, ground, (ground - vy) * 0.68, full=True)
        p["arm"], p["child"] = 0, False
        draw_person(d, p, (10, 8, 10))
    # smaller lanterns on poles around it
    for _ in range(6):
        x = cx + rng.uniform(-0.7, 0.7) * L
        y = cy + rng.uniform(-0.05, 0.25) * L
        d.line([(x, y), (x, ground)], fill=(20, 14, 12), width=max(1, round(2 * s)))
        star = rng.random() < 0.5
        if star:
            r = L * 0.07
            pts = []
            for k in range(10):
                a = -math.pi / 2 + k * math.pi / 5
                rr = r if k % 2 == 0 else r * 0.45
                pts.append((x + math.cos(a) * rr, y + math.sin(a) * rr))
            c = rng.choice(((255, 220, 100), (120, 200, 255)))
            d.polygon(pts, fill=c)
            sc.glow(x, y, r * 3, c, 0.5)
        else:
            lantern(sc, x, y, L * 0.06, rng.choice(LANTERN_COLORS))


def scene_stage(
    size: tuple[int, int],
    rng: random.Random,
    *,
    palette: Sequence[Color] = ((255, 60, 160), (80, 140, 255), (255, 200, 120)),
    screen: str = "waves",
    performers: int = 3,
    crowd_count: int = 90,
) -> Image.Image:
    """The open-air main stage: truss, moving-head beams, an LED wall, a crowd."""
    sc = Scene(size, rng)
    s = sc.s
    sc.set_image(vgradient((sc.w, sc.h), [(0, (3, 3, 10)), (0.5, (14, 10, 30)), (1, (10, 6, 16))]))
    d = sc.d
    floor = sc.h * 0.64
    sl, sr = sc.w * 0.1, sc.w * 0.9
    roof = sc.h * 0.12
    # haze glow behind the stage
    sc.glow(sc.w / 2, floor - sc.h * 0.2, sc.w * 0.6, scale(palette[0], 0.7), 0.35, ry=sc.h * 0.4)
    sc.commit()
    d = sc.d
    # LED wall
    wl, wt, wr, wb = sc.w * 0.27, sc.h * 0.22, sc.w * 0.73, floor - sc.h * 0.06
    led = vgradient(
        (round(wr - wl), round(wb - wt)), [(0, scale(palette[1], 0.7)), (1, scale(palette[0], 0.8))]
    )
    ld = ImageDraw.Draw(led)
    lw_, lh_ = led.size
    if screen == "waves":
        for i in range(6):
            pts = [
                (x, lh_ * (0.25 + 0.1 * i) + math.sin(x / lw_ * 6.28 * 1.5 + i) * lh_ * 0.06)
                for x in range(0, lw_ + 10, 10)
            ]
            ld.line(pts, fill=mix(palette[2], WHITE, 0.2 * (i % 2)), width=max(2, round(4 * s)))
    elif screen == "moon":
        r = lh_ * 0.33
        ld.ellipse([lw_ / 2 - r, lh_ * 0.45 - r, lw_ / 2 + r, lh_ * 0.45 + r], fill=(255, 230, 190))
        for i in range(5):
            y = lh_ * (0.72 + i * 0.06)
            ld.line(
                [(lw_ * 0.1, y), (lw_ * 0.9, y)],
                fill=scale((255, 230, 190), 0.7 - i * 0.1),
                width=max(2, round(3 * s)),
            )
    else:  # "lanterns"
        for i in range(9):
            x, y, r = lw_ * (0.08 + 0.105 * i), lh_ * (0.35 + 0.2 * math.sin(i * 1.7)), lh_ * 0.09
            ld.ellipse(
                [x - r, y - r * 0.9, x + r, y + r * 0.9],
                fill=LANTERN_COLORS[i % len(LANTERN_COLORS)],
            )
    led = led.filter(ImageFilter.GaussianBlur(2 * s))
    sc.img.paste(led, (round(wl), round(wt)))
    sc.glow(sc.w / 2, (wt + wb) / 2, (wr - wl) * 0.7, scale(palette[1], 0.8), 0.3, ry=(wb - wt))
    col = (6, 6, 10)
    # speaker towers and roof
    for x in (sl, sr):
        d.rectangle([x - 40 * s, roof, x + 40 * s, sc.h * 0.74], fill=col)
        for k in range(4):
            yy = roof + sc.h * 0.1 + k * 55 * s
            d.rectangle([x - 32 * s, yy, x + 32 * s, yy + 45 * s], fill=(14, 14, 20))
    d.rectangle([sl - 50 * s, roof - 30 * s, sr + 50 * s, roof], fill=col)
    for i in range(int((sr - sl) / (30 * s))):
        x = sl + i * 30 * s
        d.line([(x, roof - 30 * s), (x + 30 * s, roof)], fill=(26, 26, 34), width=1)
    # stage floor
    d.rectangle([sl - 50 * s, floor, sr + 50 * s, floor + sc.h * 0.08], fill=(12, 10, 14))
    d.line(
        [(sl - 50 * s, floor), (sr + 50 * s, floor)], fill=(60, 50, 60), width=max(1, round(2 * s))
    )
    # performers, backlit
    pxs = [sc.w * (0.5 + (i - (performers - 1) / 2) * 0.16) for i in range(performers)]
    for i, px in enumerate(pxs):
        hgt = sc.h * rng.uniform(0.22, 0.26)
        role = "singer" if i == performers // 2 else ("guitar" if i % 2 == 0 else "bass")
        hy = performer(d, px, floor + hgt * 0.01, hgt, role, (4, 4, 8))
        hr = hgt * 0.065
        sc.glow(px, hy - hr * 0.5, hgt * 0.35, palette[2], 0.22)
    # truss lights and beams
    beams = Image.new("RGB", (sc.w, sc.h))
    n = rng.randint(7, 10)
    for i in range(n):
        x0 = sl + (sr - sl) * (i + 0.5) / n
        y0 = roof + 4 * s
        c = palette[i % 2] if rng.random() < 0.8 else palette[2]
        ang = math.radians(90 + rng.uniform(-38, 38))
        length = sc.h * rng.uniform(0.8, 1.3)
        spread = rng.uniform(0.04, 0.09)
        one = Image.new("RGB", (sc.w, sc.h))
        od = ImageDraw.Draw(one)
        steps = 12
        for k in range(steps):
            t0, t1 = k / steps, (k + 1) / steps
            quad: list[Point] = []
            for t, sgn in ((t0, -1), (t1, -1), (t1, 1), (t0, 1)):
                a = ang + sgn * spread
                quad.append((x0 + math.cos(a) * length * t, y0 + math.sin(a) * length * t))
            od.polygon(quad, fill=scale(c, 0.55 * (1 - t0) ** 1.3))
        beams = ImageChops.add(beams, one)
        sc.d.ellipse([x0 - 6 * s, y0 - 6 * s, x0 + 6 * s, y0 + 6 * s], fill=mix(c, WHITE, 0.6))
        sc.glow(x0, y0, 26 * s, c, 0.9)
    sc.light = ImageChops.add(sc.light, beams.filter(ImageFilter.GaussianBlur(5 * s)))
    # crowd
    crowd(
        sc,
        sc.h * 0.7,
        sc.h * 1.0,
        crowd_count,
        340 * s,
        70 * s,
        (4, 4, 7),
        haze=(40, 26, 50),
        rim=mix(palette[0], palette[1], 0.5),
        arm_p=0.3,
    )
    return sc.finish(bloom=195, vignette=0.4)


def performer(
    d: ImageDraw.ImageDraw, px: float, base: float, hgt: float, role: str, c: Color
) -> float:
    """A backlit musician standing on the stage; returns the head's centre y."""
    r = hgt * 0.064
    hy = base - hgt + r
    sy = base - hgt * 0.8  # shoulders
    wy = base - hgt * 0.5  # hips
    flip = -1 if role == "bass" else 1
    limb, arm = max(2, round(hgt * 0.05)), max(2, round(hgt * 0.034))
    d.ellipse([px - r * 0.9, hy - r, px + r * 0.9, hy + r], fill=c)
    d.rectangle([px - r * 0.35, hy + r * 0.5, px + r * 0.35, sy + r * 0.3], fill=c)
    d.polygon(
        [
            (px - hgt * 0.11, sy),
            (px + hgt * 0.11, sy),
            (px + hgt * 0.075, wy),
            (px - hgt * 0.075, wy),
        ],
        fill=c,
    )
    for side in (-1, 1):
        d.ellipse(
            [
                px + side * hgt * 0.1 - r * 0.55,
                sy - r * 0.2,
                px + side * hgt * 0.1 + r * 0.55,
                sy + r * 0.9,
            ],
            fill=c,
        )
        d.line(
            [(px + side * hgt * 0.045, wy - hgt * 0.02), (px + side * hgt * 0.1, base)],
            fill=c,
            width=limb,
        )
    shoulder_r, shoulder_l = (
        (px + flip * hgt * 0.1, sy + r * 0.3),
        (px - flip * hgt * 0.1, sy + r * 0.3),
    )
    if role == "singer":
        mic = (px + hgt * 0.03, hy + r * 0.9)
        d.line(
            [shoulder_r, (px + hgt * 0.15, sy + hgt * 0.14), mic], fill=c, width=arm, joint="curve"
        )
        d.line(
            [shoulder_l, (px - hgt * 0.19, sy - hgt * 0.08), (px - hgt * 0.22, hy - hgt * 0.12)],
            fill=c,
            width=arm,
            joint="curve",
        )
        d.line(
            [(px + hgt * 0.12, base), (px + hgt * 0.12, sy + hgt * 0.05), mic],
            fill=c,
            width=max(1, round(hgt * 0.008)),
        )
        return hy
    body = (px + flip * hgt * 0.02, wy + hgt * 0.02)
    d.ellipse(
        [body[0] - hgt * 0.075, body[1] - hgt * 0.06, body[0] + hgt * 0.075, body[1] + hgt * 0.07],
        fill=c,
    )
    d.ellipse(
        [
            body[0] - flip * hgt * 0.05 - hgt * 0.05,
            body[1] - hgt * 0.1,
            body[0] - flip * hgt * 0.05 + hgt * 0.05,
            body[1],
        ],
        fill=c,
    )
    head = (px - flip * hgt * 0.3, wy - hgt * 0.22)
    d.line([body, head], fill=c, width=max(2, round(hgt * 0.018)))
    d.line(
        [head, (head[0] - flip * hgt * 0.03, head[1] - hgt * 0.015)],
        fill=c,
        width=max(2, round(hgt * 0.03)),
    )
    d.line(
        [
            shoulder_r,
            (px + flip * hgt * 0.14, sy + hgt * 0.17),
            (body[0] + flip * hgt * 0.02, body[1] - hgt * 0.01),
        ],
        fill=c,
        width=arm,
        joint="curve",
    )
    d.line(
        [
            shoulder_l,
            (px - flip * hgt * 0.12, sy + hgt * 0.2),
            (px - flip * hgt * 0.22, wy - hgt * 0.17),
        ],
        fill=c,
        width=arm,
        joint="curve",
    )
    return hy


def scene_market(
    size: tuple[int, int], rng: random.Random, *, stalls: int = 4, steam: bool = True
) -> Image.Image:
    """Night-market food stalls with striped awnings, string lights and a queue."""
    sc = Scene(size, rng)
    s = sc.s
    night_sky(sc, sc.h * 0.5, (5, 6, 18), (18, 18, 40), (40, 30, 50), n_stars=30)
    skyline(sc, sc.h * 0.42, (14, 14, 24), 60, 220, win_p=0.25, wmin=60, wmax=160)
    d = sc.d
    ground_y = sc.h * 0.78
    d.rectangle([0, sc.h * 0.42, sc.w, sc.h], fill=(22, 18, 20))
    paving = vgradient((sc.w, sc.h), [(0, (0, 0, 0)), (0.42, (30, 24, 26)), (1, (46, 32, 28))])
    sc.set_image(Image.composite(paving, sc.img, _below_mask(sc, sc.h * 0.42)))
    d = sc.d
    sw = sc.w / stalls
    awnings = [
        ((200, 40, 40), (245, 235, 215)),
        ((30, 110, 100), (240, 230, 200)),
        ((230, 150, 30), (250, 240, 220)),
        ((40, 70, 150), (240, 235, 225)),
        ((160, 40, 110), (245, 230, 220)),
    ]
    rng.shuffle(awnings)
    for i in range(stalls):
        x0 = i * sw + sw * 0.06
        x1 = (i + 1) * sw - sw * 0.06
        top = sc.h * rng.uniform(0.36, 0.42)
        counter = sc.h * 0.66
        # lit interior
        inner = vgradient(
            (round(x1 - x0), round(counter - top)), [(0, (255, 200, 130)), (1, (170, 90, 45))]
        )
        sc.img.paste(inner, (round(x0), round(top)))
        d = sc.d
        # shelves and goods
        for k in range(2):
            yy = top + (counter - top) * (0.35 + 0.3 * k)
            d.line([(x0, yy), (x1, yy)], fill=(90, 50, 30), width=max(2, round(4 * s)))
            xx = x0 + 10 * s
            while xx < x1 - 20 * s:
                gw, gh = rng.uniform(10, 22) * s, rng.uniform(14, 34) * s
                d.rectangle(
                    [xx, yy - gh, xx + gw, yy],
                    fill=rng.choice(
                        (
                            (170, 60, 40),
                            (90, 120, 60),
                            (200, 170, 90),
                            (120, 70, 100),
                            (230, 220, 200),
                        )
                    ),
                )
                xx += gw + rng.uniform(3, 10) * s
        # a grill / wok glow on some counters
        if rng.random() < 0.6:
            gx = rng.uniform(x0 + sw * 0.2, x1 - sw * 0.2)
            sc.glow(gx, counter - 6 * s, sw * 0.25, (255, 110, 30), 0.8, ry=20 * s)
            if steam:
                layer, ld = sc.rgba()
                for k in range(7):
                    r = rng.uniform(25, 60) * s
                    yy = counter - 30 * s - k * 40 * s
                    ld.ellipse(
                        [gx - r + rng.uniform(-20, 20) * s, yy - r, gx + r, yy + r],
                        fill=(240, 230, 220, 40 - k * 4),
                    )
                sc.overlay(layer.filter(ImageFilter.GaussianBlur(18 * s)))
        d = sc.d
        # counter
        d.rectangle([x0 - 6 * s, counter, x1 + 6 * s, ground_y], fill=(50, 30, 22))
        d.rectangle([x0 - 6 * s, counter, x1 + 6 * s, counter + 8 * s], fill=(110, 70, 45))
        # menu board
        mb = (x0 + (x1 - x0) * rng.uniform(0.55, 0.7), counter + 20 * s)
        d.rectangle([mb[0], mb[1], mb[0] + sw * 0.22, mb[1] + sw * 0.22], fill=(24, 26, 24))
        for k in range(5):
            yy = mb[1] + 10 * s + k * sw * 0.036
            d.line(
                [(mb[0] + 8 * s, yy), (mb[0] + sw * rng.uniform(0.12, 0.2), yy)],
                fill=(220, 220, 200),
                width=max(1, round(2 * s)),
            )
        # posts
        for x in (x0, x1):
            d.rectangle([x - 5 * s, top, x + 5 * s, ground_y], fill=(30, 20, 18))
        # striped awning with scalloped edge
        c1, c2 = awnings[i % len(awnings)]
        n = 8
        at, ab = top - sc.h * 0.1, top + sc.h * 0.02
        for k in range(n):
            xa = x0 - 14 * s + (x1 - x0 + 28 * s) * k / n
            xb = x0 - 14 * s + (x1 - x0 + 28 * s) * (k + 1) / n
            cc = c1 if k % 2 == 0 else c2
            inset = (x1 - x0) * 0.06
            xat = x0 + inset + (x1 - x0 - 2 * inset) * k / n
            xbt = x0 + inset + (x1 - x0 - 2 * inset) * (k + 1) / n
            d.polygon([(xat, at), (xbt, at), (xb, ab), (xa, ab)], fill=scale(cc, 0.75))
            d.pieslice(
                [xa, ab - (xb - xa) / 2, xb, ab + (xb - xa) / 2], 0, 180, fill=scale(cc, 0.75)
            )
        # sign above awning
        d.rectangle(
            [x0 + (x1 - x0) * 0.2, at - sc.h * 0.05, x1 - (x1 - x0) * 0.2, at - 4 * s],
            fill=(30, 22, 20),
        )
        sign_c = rng.choice(((255, 210, 120), (130, 230, 255), (255, 130, 170)))
        d.rectangle(
            [x0 + (x1 - x0) * 0.25, at - sc.h * 0.035, x1 - (x1 - x0) * 0.25, at - 14 * s],
            fill=scale(sign_c, 0.9),
        )
        sc.glow((x0 + x1) / 2, at - sc.h * 0.025, (x1 - x0) * 0.3, sign_c, 0.35, ry=sc.h * 0.03)
        # bulbs under the awning
        for k in range(3):
            bx = x0 + (x1 - x0) * (k + 0.5) / 3
            by = ab + 24 * s
            d.line([(bx, ab), (bx, by)], fill=(20, 16, 14), width=1)
            d.ellipse([bx - 5 * s, by - 5 * s, bx + 5 * s, by + 5 * s], fill=(255, 240, 200))
            sc.glow(bx, by, 30 * s, BULB, 0.8)
        sc.glow((x0 + x1) / 2, counter, sw * 0.7, (255, 170, 90), 0.18, ry=sc.h * 0.12)
    # string lights zigzagging overhead
    for k in range(3):
        y = sc.h * (0.05 + 0.07 * k)
        bulb_string(sc, (-10, y), (sc.w + 10, y + rng.uniform(-30, 30) * s), sc.h * 0.08, 34 * s)
    crowd(
        sc,
        sc.h * 0.76,
        sc.h * 1.0,
        max(8, stalls * 4),
        330 * s,
        210 * s,
        (8, 6, 8),
        rim=(210, 140, 80),
        arm_p=0.12,
    )
    return sc.finish(bloom=205, vignette=0.45)


def _below_mask(sc: Scene, y: float) -> Image.Image:
    m = Image.new("L", (sc.w, sc.h), 0)
    ImageDraw.Draw(m).rectangle([0, y, sc.w, sc.h], fill=255)
    return m


def scene_bokeh(
    size: tuple[int, int], rng: random.Random, *, lanterns: bool = False, warm: bool = True
) -> Image.Image:
    sc = Scene(size, rng)
    s = sc.s
    sc.set_image(vgradient((sc.w, sc.h), [(0, (6, 6, 16)), (0.6, (24, 14, 30)), (1, (40, 20, 24))]))
    cols = (
        [(255, 170, 70), (255, 120, 60), (255, 210, 120), (240, 80, 90)]
        if warm
        else [(90, 170, 255), (200, 120, 255), (255, 170, 90), (120, 230, 220)]
    )
    bokeh(sc, 45, (0, 0, sc.w, sc.h), cols, 40, 110, strength=0.3)
    bokeh(sc, 70, (0, sc.h * 0.1, sc.w, sc.h * 0.9), cols, 14, 40, strength=0.45)
    sc.light = sc.light.filter(ImageFilter.GaussianBlur(2 * s))
    if lanterns:
        sc.commit()
        lantern_string(
            sc, (-20, sc.h * 0.18), (sc.w + 20, sc.h * 0.32), sc.h * 0.25, 6, 55 * s, halo=0.8
        )
    return sc.finish(bloom=215, vignette=0.5, soften=0.8)


def scene_lantern_closeup(
    size: tuple[int, int], rng: random.Random, *, count: int = 5
) -> Image.Image:
    sc = Scene(size, rng)
    s = sc.s
    sc.set_image(vgradient((sc.w, sc.h), [(0, (8, 6, 14)), (1, (30, 14, 18))]))
    bokeh(
        sc,
        60,
        (0, 0, sc.w, sc.h),
        [(255, 160, 70), (255, 100, 60), (200, 90, 150)],
        20,
        80,
        strength=0.28,
    )
    sc.light = sc.light.filter(ImageFilter.GaussianBlur(3 * s))
    sc.commit()
    # far, smaller ones first, then big near lanterns
    items = []
    for i in range(count):
        x = sc.w * (i + rng.uniform(0.2, 0.8)) / count
        r = rng.uniform(90, 170) * s
        items.append((r, x, rng.uniform(0.3, 0.75) * sc.h))
    items.sort()
    for r, x, y in items:
        sh = rng.choice(("round", "oval", "tall"))
        c = rng.choice(LANTERN_COLORS)
        sc.d.line([(x, -10), (x, y - r)], fill=(30, 20, 18), width=max(2, round(3 * s)))
        lantern(sc, x, y, r, c, shape=sh, halo=0.7, ribs=9)
    return sc.finish(bloom=215, vignette=0.45)


def scene_ferris(
    size: tuple[int, int], rng: random.Random, *, palette: str = "blue_hour"
) -> Image.Image:
    sc = Scene(size, rng)
    s = sc.s
    hy = sc.h * 0.78
    top, mid, low = PALETTES[palette]
    night_sky(sc, hy, top, mid, low, n_stars=20)
    skyline(sc, hy, (16, 18, 34), 30, 140, win_p=0.25, win_scale=0.8)
    R = min(sc.w, sc.h) * 0.36
    ferris_wheel(sc, sc.w * rng.uniform(0.45, 0.58), hy - R * 1.3, R, (10, 10, 18))
    sc.d.rectangle([0, hy, sc.w, sc.h], fill=(16, 12, 16))
    bulb_string(sc, (-10, hy - 30 * s), (sc.w + 10, hy - 40 * s), 30 * s, 40 * s)
    crowd(
        sc,
        hy + 5 * s,
        sc.h,
        30,
        250 * s,
        110 * s,
        (6, 5, 8),
        haze=(60, 40, 50),
        rim=(220, 150, 120),
        arm_p=0.2,
    )
    return sc.finish(bloom=200, vignette=0.4)


def scene_release(
    size: tuple[int, int],
    rng: random.Random,
    *,
    palette: str = "dusk",
    count: int = 60,
    pier: bool = True,
) -> Image.Image:
    """Floating paper lanterns drifting on the inner harbour at dusk."""
    sc = Scene(size, rng)
    s = sc.s
    hy = sc.h * 0.45
    top, mid, low = PALETTES[palette]
    night_sky(sc, hy, top, mid, low, n_stars=15)
    sc.glow(sc.w * rng.uniform(0.3, 0.7), hy, sc.w * 0.5, (255, 150, 80), 0.4, ry=sc.h * 0.12)
    skyline(sc, hy, (20, 18, 36), 15, 70, win_p=0.3, win_scale=0.6, wmin=30, wmax=90)
    sc.commit()
    water(sc, hy, tint=(20, 22, 48), keep=0.6, streak=6)
    pts = []
    for _ in range(count):
        t = rng.random() ** 1.7
        y = hy + 6 * s + (sc.h - hy) * 0.85 * t
        pts.append((y, rng.uniform(0, sc.w), 2 + 26 * t))
    pts.sort()
    for y, x, r in pts:
        r *= s
        c = rng.choice([(255, 170, 70), (255, 140, 50), (255, 200, 110)])
        sc.glow(x, y + r * 1.2, r * 1.2, c, 0.5, ry=r * 4)
        sc.d.polygon(
            [
                (x - r, y - r * 0.9),
                (x + r, y - r * 0.9),
                (x + r * 0.85, y + r * 0.6),
                (x - r * 0.85, y + r * 0.6),
            ],
            fill=scale(c, 0.85),
        )
        sc.d.line(
            [(x - r, y - r * 0.9), (x + r, y - r * 0.9)],
            fill=scale(c, 0.5),
            width=max(1, round(r * 0.12)),
        )
        sc.d.rectangle([x - r * 1.1, y + r * 0.5, x + r * 1.1, y + r * 0.75], fill=(60, 40, 30))
        sc.glow(x, y - r * 0.1, r * 0.8, (255, 200, 130), 0.5)
        sc.glow(x, y, r * 4, c, 0.25)
    if pier:
        py = sc.h * 0.9
        sc.d.polygon(
            [(0, py), (sc.w * 0.45, py + 10 * s), (sc.w * 0.45, sc.h), (0, sc.h)], fill=(8, 7, 10)
        )
        crowd(
            sc,
            py - 20 * s,
            py,
            6,
            300 * s,
            260 * s,
            (6, 5, 8),
            rim=(240, 150, 90),
            x0=0,
            x1=sc.w * 0.38,
        )
    return sc.finish(bloom=205, vignette=0.4)


def scene_grill(size: tuple[int, int], rng: random.Random, *, food: str = "skewers") -> Image.Image:
    sc = Scene(size, rng)
    s = sc.s
    sc.set_image(Image.new("RGB", (sc.w, sc.h), (12, 8, 8)))
    # embers
    for _ in range(140):
        x, y = rng.uniform(0, sc.w), rng.uniform(0, sc.h)
        sc.glow(
            x,
            y,
            rng.uniform(20, 70) * s,
            rng.choice(((255, 90, 20), (255, 140, 40), (200, 40, 10))),
            rng.uniform(0.2, 0.6),
        )
    sc.commit()
    sc.set_image(sc.img.filter(ImageFilter.GaussianBlur(6 * s)))
    d = sc.d
    # grill bars (diagonal)
    ang = math.radians(rng.uniform(-12, -4))
    gap = 46 * s
    for k in range(-30, 60):
        x = k * gap
        p1 = (x, 0)
        p2 = (x + math.tan(ang) * sc.h, sc.h)
        d.line([p1, p2], fill=(20, 16, 16), width=max(3, round(9 * s)))
        d.line(
            [(p1[0] + 3 * s, p1[1]), (p2[0] + 3 * s, p2[1])],
            fill=(90, 60, 50),
            width=max(1, round(2 * s)),
        )
    if food == "skewers":
        for k in range(5):
            y0 = sc.h * (0.12 + 0.19 * k)
            x0 = -40 * s
            slope = rng.uniform(0.05, 0.12)
            d.line(
                [(x0, y0), (sc.w + 40 * s, y0 + slope * sc.w)],
                fill=(170, 130, 80),
                width=max(2, round(6 * s)),
            )
            x = sc.w * rng.uniform(0.08, 0.18)
            while x < sc.w * 0.92:
                y = y0 + slope * (x - x0)
                kind = rng.choice(("meat", "meat", "pepper", "onion", "pepper_red"))
                col = {
                    "meat": (120, 55, 35),
                    "pepper": (60, 120, 40),
                    "onion": (210, 190, 160),
                    "pepper_red": (190, 40, 30),
                }[kind]
                pw, ph = rng.uniform(60, 90) * s, rng.uniform(60, 85) * s
                d.rounded_rectangle([x, y - ph / 2, x + pw, y + ph / 2], radius=pw * 0.3, fill=col)
                d.rounded_rectangle(
                    [x + pw * 0.15, y - ph * 0.4, x + pw * 0.55, y - ph * 0.15],
                    radius=pw * 0.1,
                    fill=mix(col, WHITE, 0.18),
                )
                for m in range(2):
                    mx = x + pw * (0.3 + 0.35 * m)
                    d.line(
                        [(mx - 10 * s, y - ph / 2 + 4 * s), (mx + 4 * s, y + ph / 2 - 4 * s)],
                        fill=scale(col, 0.35),
                        width=max(2, round(6 * s)),
                    )
                x += pw + rng.uniform(4, 12) * s
    else:  # sardines
        for k in range(7):
            cy = sc.h * (0.1 + 0.13 * k)
            cx = sc.w * rng.uniform(0.4, 0.6)
            L, H = sc.w * 0.62, sc.h * 0.075
            flip = rng.choice((-1, 1))
            body = [
                (
                    cx + flip * L / 2 * math.cos(t),
                    cy + H / 2 * math.sin(t) * (1 - 0.35 * (math.cos(t) * flip < 0)),
                )
                for t in (i * math.pi / 24 for i in range(49))
            ]
            tx = cx - flip * L / 2
            d.polygon(
                [
                    (tx, cy),
                    (tx - flip * L * 0.12, cy - H * 0.6),
                    (tx - flip * L * 0.08, cy),
                    (tx - flip * L * 0.12, cy + H * 0.6),
                ],
                fill=(90, 90, 95),
            )
            d.polygon(body, fill=(150, 155, 160))
            d.polygon(
                [(x, y) for x, y in body if y <= cy + 1] + [(cx - flip * L / 2, cy + H * 0.05)],
                fill=(95, 105, 120),
            )
            for m in range(5):
                mx = cx + flip * (-L * 0.3 + m * L * 0.13)
                d.line(
                    [(mx - 8 * s, cy - H * 0.45), (mx + 10 * s, cy + H * 0.45)],
                    fill=(45, 35, 30),
                    width=max(2, round(7 * s)),
                )
            ex = cx + flip * L * 0.4
            d.ellipse([ex - 7 * s, cy - 9 * s, ex + 7 * s, cy + 5 * s], fill=(230, 225, 210))
            d.ellipse([ex - 3 * s, cy - 5 * s, ex + 3 * s, cy + 1 * s], fill=(20, 20, 20))
            sc.glow(cx, cy - H * 0.2, L * 0.3, (255, 200, 150), 0.12, ry=H * 0.4)
    # smoke
    layer, ld = sc.rgba()
    for _ in range(10):
        r = rng.uniform(80, 220) * s
        x, y = rng.uniform(0, sc.w), rng.uniform(0, sc.h * 0.7)
        ld.ellipse(
            [x - r, y - r * 0.5, x + r, y + r * 0.5], fill=(230, 220, 210, rng.randint(14, 34))
        )
    sc.overlay(layer.filter(ImageFilter.GaussianBlur(40 * s)))
    sc.glow(sc.w / 2, sc.h, sc.w * 0.7, (255, 110, 40), 0.25, ry=sc.h * 0.4)
    return sc.finish(bloom=225, vignette=0.55, soften=0.9)


def scene_lighthouse(size: tuple[int, int], rng: random.Random) -> Image.Image:
    sc = Scene(size, rng)
    s = sc.s
    hy = sc.h * 0.66
    night_sky(sc, hy, (8, 14, 44), (40, 50, 110), (220, 130, 100), n_stars=90)
    # far headland
    d = sc.d
    pts = (
        [(0, hy)]
        + [(x, hy - (18 + 14 * math.sin(x / sc.w * 7 + 1)) * s) for x in range(0, sc.w + 20, 20)]
        + [(sc.w, hy)]
    )
    d.polygon(pts, fill=(24, 22, 44))
    for _ in range(25):
        x = rng.uniform(0, sc.w)
        sc.glow(x, hy - 10 * s, 4 * s, rng.choice(WARM_WINDOWS), 0.8)
    sc.commit()
    water(sc, hy, tint=(18, 24, 58), keep=0.55, streak=8)
    # breakwater and tower
    d = sc.d
    bx = sc.w * 0.58
    base = sc.h * 0.86
    d.polygon(
        [
            (-10, sc.h * 0.93),
            (bx - 40 * s, base),
            (bx + 150 * s, base + 6 * s),
            (sc.w + 10, sc.h * 0.95),
            (sc.w + 10, sc.h),
            (-10, sc.h),
        ],
        fill=(10, 10, 16),
    )
    tw_b, tw_t = 70 * s, 44 * s
    tt = sc.h * 0.3
    for k in range(6):
        y0 = base - (base - tt) * k / 6
        y1 = base - (base - tt) * (k + 1) / 6
        w0 = tw_b + (tw_t - tw_b) * k / 6
        w1 = tw_b + (tw_t - tw_b) * (k + 1) / 6
        c = (200, 190, 190) if k % 2 == 0 else (170, 40, 40)
        c = scale(c, 0.38)
        d.polygon([(bx - w0, y0), (bx + w0, y0), (bx + w1, y1), (bx - w1, y1)], fill=c)
        d.polygon(
            [(bx + w0 * 0.2, y0), (bx + w0, y0), (bx + w1, y1), (bx + w1 * 0.2, y1)],
            fill=scale(c, 0.6),
        )
    d.rectangle([bx - tw_t * 1.3, tt - 8 * s, bx + tw_t * 1.3, tt], fill=(12, 12, 18))
    d.rectangle([bx - tw_t * 0.8, tt - 60 * s, bx + tw_t * 0.8, tt - 8 * s], fill=(255, 240, 200))
    d.polygon(
        [(bx - tw_t, tt - 60 * s), (bx, tt - 95 * s), (bx + tw_t, tt - 60 * s)], fill=(12, 12, 18)
    )
    lx, ly = bx, tt - 34 * s
    beams = Image.new("RGB", (sc.w, sc.h))
    bd = ImageDraw.Draw(beams)
    ang = math.radians(rng.uniform(190, 205))
    for k in range(14):
        t0, t1 = k / 14, (k + 1) / 14
        Lb = sc.w * 1.2
        beam: list[Point] = [
            (lx + math.cos(ang - 0.05) * Lb * t0, ly + math.sin(ang - 0.05) * Lb * t0),
            (lx + math.cos(ang - 0.05) * Lb * t1, ly + math.sin(ang - 0.05) * Lb * t1),
            (lx + math.cos(ang + 0.05) * Lb * t1, ly + math.sin(ang + 0.05) * Lb * t1),
            (lx + math.cos(ang + 0.05) * Lb * t0, ly + math.sin(ang + 0.05) * Lb * t0),
        ]
        bd.polygon(beam, fill=scale((255, 235, 190), 0.5 * (1 - t0)))
    sc.light = ImageChops.add(sc.light, beams.filter(ImageFilter.GaussianBlur(6 * s)))
    sc.glow(lx, ly, 90 * s, (255, 230, 180), 0.8)
    for _ in range(3):
        depth = rng.uniform(0.05, 0.3)
        boat(
            sc,
            rng.uniform(0.02, 0.4) * sc.w,
            hy + (sc.h - hy) * depth,
            (90 + 200 * depth) * s,
            rng.choice(("sail", "fishing")),
        )
    crowd(
        sc,
        base - 2 * s,
        base + 6 * s,
        5,
        95 * s,
        85 * s,
        (8, 8, 12),
        x0=bx + 80 * s,
        x1=sc.w * 0.95,
        full=True,
    )
    return sc.finish(bloom=205, vignette=0.4)


def scene_cover(size: tuple[int, int], rng: random.Random) -> Image.Image:
    sc = Scene(size, rng)
    s = sc.s
    hy = sc.h * 0.64
    top, mid, low = PALETTES["violet"]
    night_sky(sc, hy, top, mid, low, n_stars=80)
    for fx, fy, R, c, kind in (
        (0.22, 0.26, 120, (255, 200, 80), "willow"),
        (0.52, 0.2, 150, (255, 90, 140), "chrysanthemum"),
        (0.8, 0.3, 110, (120, 200, 255), "peony"),
    ):
        firework(sc, sc.w * fx, sc.h * fy, R * s, c, kind)
    smoke(sc, (0, 0, sc.w, hy), (110, 80, 110), n=8)
    sc.commit()
    skyline(sc, hy, (24, 18, 40), 40, 150, win_p=0.15, win_scale=0.6)
    skyline(sc, hy, (10, 9, 18), 20, 100, win_p=0.3)
    sc.d.rectangle([0, hy - 4 * s, sc.w, hy + 2], fill=(8, 8, 14))
    sc.commit()
    water(sc, hy, tint=(10, 8, 24), keep=0.6, streak=12)
    for bx, depth, kind in ((0.08, 0.35, "sail"), (0.36, 0.15, "fishing"), (0.62, 0.45, "cruiser")):
        boat(
            sc,
            sc.w * bx,
            hy + (sc.h - hy) * depth,
            (160 + 300 * depth) * s,
            kind,
            bulbs=((255, 80, 60), BULB, (90, 170, 255)),
        )
    lantern_string(sc, (-20, -10), (sc.w + 20, sc.h * 0.02), sc.h * 0.18, 10, 26 * s, halo=0.8)
    return sc.finish(bloom=195, vignette=0.35)


# --------------------------------------------------------------------------- catalogue

Painter = Callable[[tuple[int, int], random.Random], Image.Image]


def P(fn: Callable[..., Image.Image], **kw: object) -> Painter:
    return lambda size, rng: fn(size, rng, **kw)


PHOTOS: list[tuple[str, tuple[int, int], Painter]] = [
    ("harbour-01.jpg", LANDSCAPE, P(scene_harbour, boats=5, moon_at=(0.8, 0.14))),
    ("harbour-02.jpg", LANDSCAPE, P(scene_harbour, palette="violet", boats=6, bridge=True)),
    ("harbour-03.jpg", PORTRAIT, P(scene_harbour, horizon=0.5, boats=4, front_lanterns=True)),
    (
        "harbour-04.jpg",
        SQUARE,
        P(scene_harbour, palette="teal", boats=4, wheel=True, promenade=True),
    ),
    ("fireworks-01.jpg", LANDSCAPE, P(scene_fireworks, bursts=4, boats=3)),
    (
        "fireworks-02.jpg",
        PORTRAIT,
        P(
            scene_fireworks,
            bursts=3,
            water_at=None,
            skyline_at=0.76,
            crowd_rows=True,
            kinds=("chrysanthemum", "peony", "ring"),
        ),
    ),
    (
        "fireworks-03.jpg",
        SQUARE,
        P(scene_fireworks, bursts=3, water_at=None, skyline_at=0.72, crowd_rows=True),
    ),
    (
        "fireworks-04.jpg",
        LANDSCAPE,
        P(
            scene_fireworks,
            bursts=5,
            kinds=("willow",),
            colours=[(255, 200, 90), (255, 220, 140), (255, 170, 70)],
            palette="violet",
        ),
    ),
    (
        "fireworks-05.jpg",
        PORTRAIT,
        P(scene_fireworks, bursts=2, boats=2, skyline_at=0.55, kinds=("peony", "palm", "glitter")),
    ),
    ("lanterns-01.jpg", LANDSCAPE, P(scene_street, strings=7, people=55)),
    ("lanterns-02.jpg", PORTRAIT, P(scene_street, strings=9, people=45, wall=(30, 22, 34))),
    ("lanterns-03.jpg", SQUARE, P(scene_lantern_closeup, count=5)),
    ("lanterns-04.jpg", PORTRAIT, P(scene_lantern_closeup, count=4)),
    ("lanterns-05.jpg", LANDSCAPE, P(scene_bokeh, lanterns=True)),
    ("stage-01.jpg", LANDSCAPE, P(scene_stage)),
    (
        "stage-02.jpg",
        LANDSCAPE,
        P(
            scene_stage,
            palette=((60, 200, 255), (140, 80, 255), (255, 230, 180)),
            screen="moon",
            performers=1,
        ),
    ),
    (
        "stage-03.jpg",
        PORTRAIT,
        P(
            scene_stage,
            palette=((255, 120, 40), (255, 40, 80), (255, 220, 150)),
            screen="lanterns",
            performers=2,
            crowd_count=70,
        ),
    ),
    (
        "stage-04.jpg",
        SQUARE,
        P(scene_stage, palette=((90, 255, 180), (60, 120, 255), (255, 255, 255)), performers=4),
    ),
    ("market-01.jpg", LANDSCAPE, P(scene_market, stalls=4)),
    ("market-02.jpg", PORTRAIT, P(scene_market, stalls=2)),
    ("market-03.jpg", SQUARE, P(scene_market, stalls=3)),
    ("market-04.jpg", LANDSCAPE, P(scene_market, stalls=5, steam=False)),
    ("bokeh-01.jpg", SQUARE, P(scene_bokeh)),
    ("bokeh-02.jpg", LANDSCAPE, P(scene_bokeh, warm=False)),
    ("ferris-wheel-01.jpg", PORTRAIT, P(scene_ferris)),
    ("ferris-wheel-02.jpg", LANDSCAPE, P(scene_ferris, palette="night")),
    ("lantern-release-01.jpg", LANDSCAPE, P(scene_release)),
    ("lantern-release-02.jpg", SQUARE, P(scene_release, palette="blue_hour", count=45, pier=False)),
    (
        "skyline-dusk-01.jpg",
        LANDSCAPE,
        P(scene_harbour, palette="blue_hour", boats=3, bridge=True, horizon=0.62),
    ),
    (
        "skyline-dusk-02.jpg",
        PORTRAIT,
        P(scene_harbour, palette="dusk", boats=2, horizon=0.6, wheel=True),
    ),
    ("grill-01.jpg", SQUARE, P(scene_grill)),
    ("grill-02.jpg", SQUARE, P(scene_grill, food="sardines")),
    ("parade-01.jpg", LANDSCAPE, P(scene_street, strings=5, people=60, parade=True, bulbs=True)),
    (
        "parade-02.jpg",
        PORTRAIT,
        P(scene_street, strings=6, people=50, parade=True, wall=(24, 24, 34)),
    ),
    ("lighthouse-01.jpg", PORTRAIT, P(scene_lighthouse)),
    (
        "harbour-fireworks-01.jpg",
        LANDSCAPE,
        P(scene_harbour, palette="violet", boats=4, fireworks=3, promenade=True),
    ),
]


def save_jpeg(img: Image.Image, path: Path, limit: int) -> int:
    for quality in (JPEG_QUALITY, 78, 74, 70, 65, 60):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
        if buf.tell() <= limit:
            break
    path.write_bytes(buf.getvalue())
    return buf.tell()


# --------------------------------------------------------------------------- avatars

AV_BG = [
    (242, 201, 76),
    (235, 87, 87),
    (111, 207, 151),
    (86, 204, 242),
    (155, 81, 224),
    (242, 153, 74),
    (47, 128, 237),
    (39, 174, 96),
    (187, 107, 217),
    (255, 183, 178),
    (45, 156, 219),
    (244, 208, 63),
]
SKIN = [
    (255, 224, 196),
    (241, 194, 155),
    (224, 172, 125),
    (198, 134, 92),
    (160, 100, 66),
    (112, 72, 48),
]
HAIR = [
    (40, 28, 22),
    (90, 56, 30),
    (20, 20, 24),
    (160, 110, 60),
    (200, 160, 100),
    (120, 40, 30),
    (200, 200, 205),
]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled default font: identical on every machine, unlike system fonts.
    return ImageFont.load_default(size=size)


def avatar_person(
    rng: random.Random,
    *,
    bg: Color,
    skin: Color,
    hair: Color,
    shirt: Color,
    style: str,
    glasses: bool = False,
    beard: bool = False,
) -> Image.Image:
    S = AVATAR * 2
    img = Image.new("RGB", (S, S), bg)
    d = ImageDraw.Draw(img)
    cx = S / 2
    # soft background disc for depth
    d.ellipse([S * 0.1, S * 0.05, S * 0.9, S * 0.85], fill=mix(bg, WHITE, 0.18))
    head_r = S * 0.17
    hy = S * 0.42
    if style in ("long", "bun_long"):
        d.rounded_rectangle(
            [cx - head_r * 1.25, hy - head_r * 1.1, cx + head_r * 1.25, hy + head_r * 2.2],
            radius=head_r,
            fill=hair,
        )
    # shoulders
    d.rounded_rectangle(
        [cx - S * 0.36, S * 0.72, cx + S * 0.36, S * 1.2], radius=S * 0.16, fill=shirt
    )
    d.polygon(
        [(cx - head_r * 0.5, S * 0.72), (cx, S * 0.8), (cx + head_r * 0.5, S * 0.72)],
        fill=scale(shirt, 0.8),
    )
    d.rectangle(
        [cx - head_r * 0.45, hy + head_r * 0.6, cx + head_r * 0.45, S * 0.74], fill=scale(skin, 0.9)
    )
    d.ellipse([cx - head_r, hy - head_r * 1.1, cx + head_r, hy + head_r * 1.05], fill=skin)
    if style == "short":
        d.chord(
            [cx - head_r * 1.05, hy - head_r * 1.25, cx + head_r * 1.05, hy + head_r * 0.6],
            180,
            360,
            fill=hair,
        )
    elif style in ("long", "bun_long"):
        d.chord(
            [cx - head_r * 1.1, hy - head_r * 1.25, cx + head_r * 1.1, hy + head_r * 0.4],
            180,
            360,
            fill=hair,
        )
        d.polygon(
            [
                (cx - head_r * 0.2, hy - head_r * 1.15),
                (cx + head_r * 0.9, hy - head_r * 0.2),
                (cx + head_r * 1.05, hy - head_r * 0.7),
            ],
            fill=hair,
        )
        if style == "bun_long":
            d.ellipse(
                [cx - head_r * 0.45, hy - head_r * 1.8, cx + head_r * 0.45, hy - head_r * 0.95],
                fill=hair,
            )
    elif style == "bun":
        d.chord(
            [cx - head_r * 1.05, hy - head_r * 1.2, cx + head_r * 1.05, hy + head_r * 0.3],
            180,
            360,
            fill=hair,
        )
        d.ellipse(
            [cx - head_r * 0.5, hy - head_r * 1.9, cx + head_r * 0.5, hy - head_r * 0.9], fill=hair
        )
    elif style == "curly":
        for k in range(11):
            a = math.pi + k * math.pi / 10
            x, y = cx + math.cos(a) * head_r * 1.0, hy - head_r * 0.15 + math.sin(a) * head_r * 1.05
            d.ellipse(
                [x - head_r * 0.38, y - head_r * 0.38, x + head_r * 0.38, y + head_r * 0.38],
                fill=hair,
            )
    elif style == "beanie":
        d.chord(
            [cx - head_r * 1.08, hy - head_r * 1.35, cx + head_r * 1.08, hy + head_r * 0.2],
            180,
            360,
            fill=shirt,
        )
        d.rectangle(
            [cx - head_r * 1.08, hy - head_r * 0.45, cx + head_r * 1.08, hy - head_r * 0.15],
            fill=scale(shirt, 0.8),
        )
        d.ellipse(
            [cx - head_r * 0.25, hy - head_r * 1.65, cx + head_r * 0.25, hy - head_r * 1.15],
            fill=scale(shirt, 0.8),
        )
    elif style == "bald":
        d.chord(
            [cx - head_r * 1.02, hy - head_r * 0.6, cx + head_r * 1.02, hy + head_r * 0.5],
            180,
            230,
            fill=hair,
        )
        d.chord(
            [cx - head_r * 1.02, hy - head_r * 0.6, cx + head_r * 1.02, hy + head_r * 0.5],
            310,
            360,
            fill=hair,
        )
    elif style == "headscarf":
        d.chord(
            [cx - head_r * 1.3, hy - head_r * 1.35, cx + head_r * 1.3, hy + head_r * 1.9],
            150,
            390,
            fill=hair,
        )
        d.ellipse(
            [cx - head_r * 0.78, hy - head_r * 0.75, cx + head_r * 0.78, hy + head_r * 0.95],
            fill=skin,
        )
        d.polygon(
            [
                (cx - head_r * 1.2, hy + head_r * 0.7),
                (cx + head_r * 1.2, hy + head_r * 0.7),
                (cx + S * 0.3, S * 0.8),
                (cx - S * 0.3, S * 0.8),
            ],
            fill=hair,
        )
    if beard:
        d.chord(
            [cx - head_r * 0.95, hy - head_r * 0.4, cx + head_r * 0.95, hy + head_r * 1.12],
            0,
            180,
            fill=hair,
        )
        d.ellipse(
            [cx - head_r * 0.35, hy + head_r * 0.35, cx + head_r * 0.35, hy + head_r * 0.6],
            fill=skin,
        )
    if glasses:
        for gx in (cx - head_r * 0.42, cx + head_r * 0.42):
            d.ellipse(
                [gx - head_r * 0.3, hy - head_r * 0.2, gx + head_r * 0.3, hy + head_r * 0.3],
                outline=(30, 30, 36),
                width=round(S * 0.012),
            )
        d.line(
            [(cx - head_r * 0.12, hy), (cx + head_r * 0.12, hy)],
            fill=(30, 30, 36),
            width=round(S * 0.01),
        )
    return img.resize((AVATAR, AVATAR), Image.Resampling.LANCZOS)


def avatar_monogram(
    rng: random.Random, *, bg: Color, fg: Color, text: str, motif: str = "circles"
) -> Image.Image:
    S = AVATAR * 2
    img = Image.new("RGB", (S, S), bg)
    d = ImageDraw.Draw(img)
    if motif == "circles":
        d.ellipse([-S * 0.3, S * 0.45, S * 0.55, S * 1.3], fill=mix(bg, fg, 0.25))
        d.ellipse([S * 0.55, -S * 0.2, S * 1.2, S * 0.45], fill=mix(bg, WHITE, 0.2))
    elif motif == "diagonal":
        d.polygon([(0, S), (S, 0), (S, S)], fill=mix(bg, BLACK, 0.2))
    elif motif == "waves":
        for k in range(4):
            y = S * (0.62 + 0.1 * k)
            pts = [(x, y + math.sin(x / S * 6.28 * 2) * S * 0.025) for x in range(0, S + 8, 8)]
            d.line(pts, fill=mix(bg, WHITE, 0.25), width=round(S * 0.02))
    font = _font(round(S * (0.42 if len(text) <= 2 else 0.3)))
    d.text((S / 2, S * 0.47), text, fill=fg, font=font, anchor="mm")
    return img.resize((AVATAR, AVATAR), Image.Resampling.LANCZOS)


def avatar_lantern_logo(rng: random.Random) -> Image.Image:
    """Harbour Lights Festival: a lantern over three wave lines."""
    S = AVATAR * 2
    img = Image.new("RGB", (S, S), (20, 24, 58))
    d = ImageDraw.Draw(img)
    cx, cy, r = S / 2, S * 0.42, S * 0.2
    d.ellipse([cx - r * 2, cy - r * 2, cx + r * 2, cy + r * 2], fill=(34, 38, 84))
    d.ellipse([cx - r * 1.5, cy - r * 1.5, cx + r * 1.5, cy + r * 1.5], fill=(52, 50, 100))
    d.line([(cx, S * 0.08), (cx, cy - r)], fill=(240, 210, 150), width=round(S * 0.012))
    d.ellipse([cx - r, cy - r * 0.9, cx + r, cy + r * 0.9], fill=(194, 65, 12))
    d.ellipse([cx - r * 0.6, cy - r * 0.65, cx + r * 0.6, cy + r * 0.65], fill=(244, 140, 50))
    for k in range(1, 5):
        y = cy - r * 0.9 + r * 1.8 * k / 5
        half = r * math.sqrt(1 - ((y - cy) / (r * 0.9)) ** 2)
        d.line([(cx - half, y), (cx + half, y)], fill=(150, 45, 10), width=round(S * 0.01))
    d.rectangle([cx - r * 0.4, cy - r * 1.0, cx + r * 0.4, cy - r * 0.8], fill=(240, 210, 150))
    d.rectangle([cx - r * 0.35, cy + r * 0.8, cx + r * 0.35, cy + r * 1.0], fill=(240, 210, 150))
    for k in range(3):
        y = S * (0.75 + 0.07 * k)
        pts = [(x, y + math.sin(x / S * 6.28 * 2.5) * S * 0.02) for x in range(0, S + 8, 8)]
        d.line(pts, fill=(240, 210, 150) if k == 0 else (90, 110, 170), width=round(S * 0.018))
    return img.resize((AVATAR, AVATAR), Image.Resampling.LANCZOS)


def avatar_lifebuoy(rng: random.Random) -> Image.Image:
    S = AVATAR * 2
    img = Image.new("RGB", (S, S), (18, 46, 84))
    d = ImageDraw.Draw(img)
    cx = cy = S / 2
    R, r = S * 0.34, S * 0.19
    d.ellipse([cx - R, cy - R, cx + R, cy + R], fill=(242, 242, 238))
    for k in range(4):
        a0 = 45 + k * 90 - 22
        d.pieslice([cx - R, cy - R, cx + R, cy + R], a0, a0 + 45, fill=(240, 100, 30))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(18, 46, 84))
    d.arc(
        [cx - R * 0.78, cy - R * 0.78, cx + R * 0.78, cy + R * 0.78],
        0,
        360,
        fill=(200, 200, 196),
        width=round(S * 0.008),
    )
    return img.resize((AVATAR, AVATAR), Image.Resampling.LANCZOS)


def avatar_ferry(rng: random.Random) -> Image.Image:
    """Vellhaven Transit: a stylised ferry on a round badge."""
    S = AVATAR * 2
    img = Image.new("RGB", (S, S), (0, 110, 90))
    d = ImageDraw.Draw(img)
    d.ellipse([S * 0.1, S * 0.1, S * 0.9, S * 0.9], fill=(250, 250, 245))
    c = (0, 110, 90)
    d.polygon(
        [(S * 0.22, S * 0.55), (S * 0.78, S * 0.55), (S * 0.7, S * 0.66), (S * 0.3, S * 0.66)],
        fill=c,
    )
    d.rectangle([S * 0.32, S * 0.42, S * 0.66, S * 0.55], fill=c)
    d.rectangle([S * 0.42, S * 0.33, S * 0.56, S * 0.42], fill=c)
    for k in range(4):
        x = S * (0.35 + k * 0.075)
        d.rectangle([x, S * 0.46, x + S * 0.045, S * 0.5], fill=(250, 250, 245))
    for k in range(2):
        y = S * (0.71 + 0.06 * k)
        pts = [
            (x, y + math.sin(x / S * 6.28 * 3) * S * 0.015)
            for x in range(round(S * 0.2), round(S * 0.8), 6)
        ]
        d.line(pts, fill=(40, 140, 220), width=round(S * 0.018))
    return img.resize((AVATAR, AVATAR), Image.Resampling.LANCZOS)


def avatar_anchor(rng: random.Random) -> Image.Image:
    """Harbour Office: anchor on navy."""
    S = AVATAR * 2
    img = Image.new("RGB", (S, S), (22, 34, 64))
    d = ImageDraw.Draw(img)
    c = (232, 196, 110)
    w = round(S * 0.045)
    cx = S / 2
    d.ellipse([cx - S * 0.07, S * 0.14, cx + S * 0.07, S * 0.28], outline=c, width=w)
    d.line([(cx, S * 0.28), (cx, S * 0.8)], fill=c, width=w)
    d.line([(cx - S * 0.16, S * 0.38), (cx + S * 0.16, S * 0.38)], fill=c, width=w)
    d.arc([cx - S * 0.28, S * 0.46, cx + S * 0.28, S * 0.82], 20, 160, fill=c, width=w)
    for side in (-1, 1):
        x = cx + side * S * 0.27
        d.polygon(
            [(x, S * 0.56), (x - side * S * 0.06, S * 0.66), (x + side * S * 0.05, S * 0.67)],
            fill=c,
        )
    return img.resize((AVATAR, AVATAR), Image.Resampling.LANCZOS)


def avatar_fork_fish(rng: random.Random) -> Image.Image:
    """Quayside Eats: a fish and a fork."""
    S = AVATAR * 2
    img = Image.new("RGB", (S, S), (250, 236, 210))
    d = ImageDraw.Draw(img)
    c = (200, 70, 40)
    d.ellipse([S * 0.2, S * 0.36, S * 0.7, S * 0.64], fill=c)
    d.polygon([(S * 0.66, S * 0.5), (S * 0.84, S * 0.36), (S * 0.84, S * 0.64)], fill=c)
    d.ellipse([S * 0.28, S * 0.44, S * 0.34, S * 0.5], fill=(250, 236, 210))
    for k in range(3):
        x = S * (0.42 + 0.07 * k)
        d.arc(
            [x - S * 0.05, S * 0.4, x + S * 0.05, S * 0.6],
            300,
            60,
            fill=(250, 236, 210),
            width=round(S * 0.012),
        )
    d.line([(S * 0.5, S * 0.1), (S * 0.5, S * 0.3)], fill=(40, 40, 50), width=round(S * 0.02))
    for k in (-1, 0, 1):
        d.line(
            [(S * (0.5 + 0.03 * k), S * 0.1), (S * (0.5 + 0.03 * k), S * 0.18)],
            fill=(40, 40, 50),
            width=round(S * 0.012),
        )
    d.line([(S * 0.5, S * 0.7), (S * 0.5, S * 0.9)], fill=(40, 40, 50), width=round(S * 0.02))
    return img.resize((AVATAR, AVATAR), Image.Resampling.LANCZOS)


def avatar_brass(rng: random.Random) -> Image.Image:
    """Brass Gulls: two gulls over a brass-gold disc with the band's initials."""
    S = AVATAR * 2
    img = Image.new("RGB", (S, S), (28, 28, 36))
    d = ImageDraw.Draw(img)
    gold = (230, 180, 60)
    d.ellipse([S * 0.2, S * 0.32, S * 0.8, S * 0.92], fill=gold)
    d.ellipse(
        [S * 0.26, S * 0.38, S * 0.74, S * 0.86], outline=(180, 130, 30), width=round(S * 0.015)
    )
    d.text((S / 2, S * 0.63), "BG", fill=(28, 28, 36), font=_font(round(S * 0.22)), anchor="mm")
    w = round(S * 0.028)
    d.arc([S * 0.22, S * 0.1, S * 0.44, S * 0.3], 200, 330, fill=WHITE, width=w)
    d.arc([S * 0.41, S * 0.1, S * 0.63, S * 0.3], 210, 340, fill=WHITE, width=w)
    d.arc([S * 0.6, S * 0.17, S * 0.74, S * 0.29], 200, 330, fill=WHITE, width=round(w * 0.7))
    d.arc([S * 0.72, S * 0.17, S * 0.86, S * 0.29], 210, 340, fill=WHITE, width=round(w * 0.7))
    return img.resize((AVATAR, AVATAR), Image.Resampling.LANCZOS)


def avatar_gazette(rng: random.Random) -> Image.Image:
    img = avatar_monogram(rng, bg=(250, 248, 240), fg=(20, 24, 40), text="HG", motif="none")
    d = ImageDraw.Draw(img)
    d.line([(40, 196), (216, 196)], fill=(194, 65, 12), width=6)
    d.line([(40, 60), (216, 60)], fill=(20, 24, 40), width=3)
    return img


AvatarPainter = Callable[[random.Random], Image.Image]


def person(bg: int, skin: int, hair: int, shirt: Color, style: str, **kw: bool) -> AvatarPainter:
    return lambda rng: avatar_person(
        rng, bg=AV_BG[bg], skin=SKIN[skin], hair=HAIR[hair], shirt=shirt, style=style, **kw
    )


def mono(bg: Color, fg: Color, text: str, motif: str) -> AvatarPainter:
    return lambda rng: avatar_monogram(rng, bg=bg, fg=fg, text=text, motif=motif)


AVATARS: list[tuple[str, AvatarPainter]] = [
    ("harbourlights.png", avatar_lantern_logo),
    ("vellhaven-transit.png", avatar_ferry),
    ("harbour-office.png", avatar_anchor),
    ("lifeboat.png", avatar_lifebuoy),
    ("harbour-gazette.png", avatar_gazette),
    ("quayside-eats.png", avatar_fork_fish),
    ("brass-gulls.png", avatar_brass),
    ("the-night-ferry.png", mono((16, 20, 40), (255, 200, 90), "NF", "waves")),
    ("ana.png", person(3, 1, 0, (40, 40, 60), "long")),
    ("celeste.png", person(5, 3, 2, (250, 250, 250), "bun")),
    ("layla.png", person(7, 2, 5, (240, 230, 210), "headscarf")),
    ("noa.png", person(1, 0, 3, (40, 60, 90), "curly", glasses=True)),
    ("sam.png", person(2, 4, 2, (250, 200, 40), "short")),
    ("priya.png", person(8, 3, 0, (230, 120, 40), "bun_long")),
    ("martin.png", person(11, 0, 6, (60, 80, 110), "bald", glasses=True, beard=True)),
    ("dani.png", person(9, 1, 4, (30, 110, 90), "beanie")),
    ("tomasz.png", mono((47, 128, 237), WHITE, "TW", "diagonal")),
    ("mariana.png", person(6, 1, 1, (220, 60, 80), "long")),
    ("diego.png", person(0, 2, 2, (50, 60, 70), "short", beard=True)),
    ("jun.png", mono((235, 87, 87), WHITE, "JW", "circles")),
    ("karim.png", person(10, 3, 0, (240, 240, 240), "short", glasses=True)),
    ("wren.png", person(4, 0, 5, (30, 30, 40), "long")),
    ("theo.png", person(2, 2, 2, (20, 20, 30), "beanie", glasses=True)),
    ("imogen.png", mono((155, 81, 224), WHITE, "IP", "circles")),
    ("ellie.png", person(9, 0, 4, (90, 150, 220), "bun")),
    ("rosa.png", person(1, 2, 0, (250, 220, 90), "curly")),
]


def save_avatar(img: Image.Image, path: Path) -> int:
    data = b""
    for colours in (None, 128, 64, 32):
        out = (
            img
            if colours is None
            else img.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        )
        buf = io.BytesIO()
        out.save(buf, "PNG", optimize=True)
        data = buf.getvalue()
        if len(data) <= MAX_AVATAR_BYTES:
            break
    path.write_bytes(data)
    return len(data)


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str]) -> int:
    only = argv[0] if argv else None
    OUT.mkdir(parents=True, exist_ok=True)
    AVATAR_DIR.mkdir(parents=True, exist_ok=True)
    total = 0
    jobs: list[tuple[str, tuple[int, int], Painter]] = [*PHOTOS, ("cover.jpg", COVER, scene_cover)]
    for name, size, paint in jobs:
        if only and only not in name:
            continue
        # Seeded per file, so one scene can change without reshuffling the others.
        img = paint(size, random.Random(f"samembed-demo/{name}"))  # noqa: S311 - pictures, not secrets
        if img.size != size:
            raise RuntimeError(f"{name}: painted {img.size}, expected {size}")
        n = save_jpeg(img, OUT / name, MAX_PHOTO_BYTES)
        total += n
        print(f"{name:28} {size[0]}x{size[1]} {n / 1024:6.1f} KB")
    for name, paint_avatar in AVATARS:
        if only and only not in name:
            continue
        rng = random.Random(f"samembed-demo/avatars/{name}")  # noqa: S311 - pictures, not secrets
        n = save_avatar(paint_avatar(rng), AVATAR_DIR / name)
        total += n
        print(f"avatars/{name:20} {n / 1024:6.1f} KB")
    print(f"total {total / 1024 / 1024:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
