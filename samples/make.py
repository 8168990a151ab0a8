"""Write the quick-start samples from two photos that the installed scikit-image ships.

    cat.jpg        Chelsea the cat, 451x300, JPEG q85
    astronaut.jpg  Eileen Collins, 512x512, JPEG q85
    avatar.png     her face cut to a circle, 200x200, transparent outside it (palette PNG)

The photos are read by file path from scikit-image's data folder (nothing is downloaded);
sources and licences are in README.md beside this file. Same scikit-image and libvips
versions (pinned in pyproject.toml), same bytes. After `scripts/bootstrap test`:

    .venv/bin/python samples/make.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyvips

HERE = Path(__file__).resolve().parent
JPEG_QUALITY = 85
AVATAR_SIZE = 200
AVATAR_CENTRE = (225, 110)  # her face, in astronaut.png's pixels


def skimage_data() -> Path:
    """scikit-image's data folder, found without importing scikit-image."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-image is missing: run scripts/bootstrap test first")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def round_cut(image: pyvips.Image, centre: tuple[int, int], size: int) -> pyvips.Image:
    """A size x size square around centre, opaque inside the inscribed circle, with a
    one-pixel soft edge and transparent outside it."""
    cx, cy = centre
    square = image.crop(cx - size // 2, cy - size // 2, size, size)
    offsets = pyvips.Image.xyz(size, size) - [(size - 1) / 2, (size - 1) / 2]
    distance = (offsets[0] ** 2 + offsets[1] ** 2) ** 0.5
    alpha = (size / 2 - 1 - distance) * 255 + 128  # cast to uchar clips to 0..255
    return square.bandjoin(alpha.cast("uchar")).copy(interpretation="srgb")


def write(image: pyvips.Image, name: str, **options: object) -> None:
    image.write_to_file(str(HERE / name), keep=pyvips.enums.ForeignKeep.NONE, **options)
    print(f"wrote samples/{name} ({(HERE / name).stat().st_size} bytes)")


def main() -> None:
    data = skimage_data()
    cat = pyvips.Image.new_from_file(str(data / "chelsea.png"))
    astronaut = pyvips.Image.new_from_file(str(data / "astronaut.png"))
    write(cat, "cat.jpg", Q=JPEG_QUALITY)
    write(astronaut, "astronaut.jpg", Q=JPEG_QUALITY)
    avatar = round_cut(astronaut, AVATAR_CENTRE, AVATAR_SIZE)
    write(avatar, "avatar.png", palette=True, effort=10, compression=9)


if __name__ == "__main__":
    main()
