# The simplejpeg calls imgfleet makes (src/imgfleet/imaging/fastjpeg.py).
import numpy as np
import numpy.typing as npt

__version__: str

def decode_jpeg(
    data: bytes,
    colorspace: str = ...,
    fastdct: bool = ...,
    fastupsample: bool = ...,
    min_height: int = ...,
    min_width: int = ...,
    min_factor: float = ...,
    strict: bool = ...,
) -> npt.NDArray[np.uint8]: ...
def encode_jpeg(
    image: npt.NDArray[np.uint8],
    quality: int = ...,
    colorspace: str = ...,
    colorsubsampling: str = ...,
    fastdct: bool = ...,
) -> bytes: ...
